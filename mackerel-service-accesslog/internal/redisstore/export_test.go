package redisstore

// SetTestHook makes s call f after each step of a delivery ("indexed",
// "applied"); an error from f ends the delivery there, as a host that dies.
func SetTestHook(s *Store, f func(step string) error) { s.testHook = f }
