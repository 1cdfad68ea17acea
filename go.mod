module github.com/sre-suite/mackerel-plugins

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c
	github.com/go-sql-driver/mysql v1.10.1
	github.com/jessevdk/go-flags v1.6.1
	github.com/mackerelio/checkers v0.2.1
	github.com/mackerelio/go-mackerel-plugin v0.1.6
	github.com/mackerelio/mackerel-client-go v0.43.0
	github.com/miekg/dns v1.1.73
	github.com/redis/go-redis/v9 v9.23.0
	golang.org/x/sys v0.48.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/mackerelio/golib v1.2.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/text v0.40.0 // indirect
)
