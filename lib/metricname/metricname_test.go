package metricname

import "testing"

func TestSanitize(t *testing.T) {
	cases := map[string]string{
		"www.example.com": "www_example_com",
		"127.0.0.1:8080":  "127_0_0_1_8080",
		"api-v2_x":        "api-v2_x",
		"":                "_",
		"/путь":           "_____",
	}
	for in, want := range cases {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if err := Valid(Sanitize(in)); err != nil {
			t.Errorf("sanitized %q invalid: %v", in, err)
		}
	}
}

func TestValid(t *testing.T) {
	good := []string{"accesslog.requests.total", "upstream.#.up", "a.*.b", "x-y_z.1"}
	bad := []string{"", "a..b", "a.b c", "a.#.b.#", "a.b*", "a.#x", "a/b"}
	for _, n := range good {
		if err := Valid(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range bad {
		if err := Valid(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestCheckMeta(t *testing.T) {
	ok := "# mackerel-agent-plugin\n{\"graphs\":{\"p.req\":{\"label\":\"R\",\"unit\":\"float\",\"metrics\":[{\"name\":\"total\",\"label\":\"T\",\"stacked\":false}]}}}\n"
	if keys, err := CheckMeta([]byte(ok)); err != nil || len(keys) != 1 {
		t.Fatalf("%v %v", keys, err)
	}
	for _, bad := range []string{
		"{}",
		"# mackerel-agent-plugin\n{\"graphs\":{\"p\":{\"unit\":\"requests\",\"metrics\":[{\"name\":\"a\"}]}}}",
		"# mackerel-agent-plugin\n{\"graphs\":{\"p\":{\"unit\":\"float\",\"metrics\":[{\"name\":\"a b\"}]}}}",
		"# mackerel-agent-plugin\n{\"graphs\":{}}",
	} {
		if _, err := CheckMeta([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
