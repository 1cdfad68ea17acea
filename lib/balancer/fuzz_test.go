package balancer

import (
	"strings"
	"testing"
)

func FuzzParseList(f *testing.F) {
	f.Add([]byte("server 127.0.0.1:6001;\nserver 127.0.0.1:6002 down;\n"))
	f.Add([]byte("server 127.0.0.1:6001 weight=1 max_fails=1 fail_timeout=10 active=2 down;\n"))
	f.Add([]byte("<html><head><title>404 Not Found</title></head></html>\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		servers, _, err := ParseList("z", body)
		if err != nil {
			return
		}
		for _, s := range servers {
			if s.Addr == "" || strings.ContainsAny(s.Addr, " \n;") {
				t.Fatalf("bad address %q", s.Addr)
			}
			if s.State != Up && s.State != Down {
				t.Fatalf("state %q", s.State)
			}
			if s.Active < -1 || s.Weight < 0 || s.MaxFails < -1 || s.FailTimeout < -1 {
				t.Fatalf("negative count: %+v", s)
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("# pxname,svname,qcur,qmax,scur,status,weight,addr\napp,app1,0,0,1,UP,1,127.0.0.1:80\napp,BACKEND,0,0,1,UP,1,\n"))
	f.Add([]byte("# pxname,svname,qcur,scur,status\n\"a,b\",\"x\"\"y\",1,2,DRAIN\n"))
	f.Add([]byte("No such backend.\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := ParseStat(b)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.Proxy == "" || r.Server == "" || r.Queued < 0 || r.Current < 0 || r.Weight < 0 {
				t.Fatalf("bad row %+v", r)
			}
		}
	})
}
