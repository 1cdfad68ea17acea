package main

import (
	"testing"

	"github.com/sre-suite/mackerel-plugins/lib/check"
)

// A Java exception logged by Spring Boot: the exception line under the
// logger's line, its frames, "Caused by:" and "... N more" belong to it.
// Before, the pattern matched the exception and "Caused by:" lines too:
// 2 exceptions and 1 NPE were "8 errors in 5 groups".
func TestJavaSample(t *testing.T) {
	f, c := readSample(t, "java_error.log", "--pattern", `ERROR|Exception`)
	checkGroups(t, f.groups, []wantGroup{
		{2, "ERROR 4242 --- [nio-8080-exec-3] c.e.shop.web.OrderController : Order <uuid> failed",
			[]string{
				"org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection; nested exception is java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
				"Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
				"\t... 3 more",
			}},
		{1, "ERROR 4242 --- [nio-8080-exec-1] o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() for servlet [dispatcherServlet] threw exception",
			[]string{`java.lang.NullPointerException: Cannot invoke "com.example.shop.domain.Customer.getId()" because "customer" is null`,
				"\tat java.base/java.lang.Thread.run(Thread.java:833)"}},
	})
	if r := c.result(f, ""); r.Status != check.Critical || firstLine(r) != "3 errors in 2 groups on web-1" {
		t.Errorf("result %v %q", r.Status, r.Message)
	}
	// The next log line is not part of the trace.
	for _, g := range f.groups {
		for _, l := range g.Example {
			if l == "2026-12-01 11:00:13.000  INFO 4242 --- [nio-8080-exec-2] c.e.shop.web.CartController              : cart 42 saved" {
				t.Errorf("%q swallowed the next log line", g.Key)
			}
		}
	}
}

// Python's logging.exception and uncaught exceptions: the traceback, its
// exception line and the chained tracebacks belong to the logged line; a
// traceback that is its own first line is named by its exception.
func TestPythonSample(t *testing.T) {
	f, c := readSample(t, "python_error.log", "--pattern", `ERROR|Error`)
	checkGroups(t, f.groups, []wantGroup{
		{2, "ERROR app.views: checkout failed",
			[]string{"Traceback (most recent call last):", "LookupError: 7f3a9c2e", "",
				"During handling of the above exception, another exception occurred:", "app.errors.CheckoutError: order not found"}},
		{2, "ZeroDivisionError: division by zero",
			[]string{"    return 1 / 0", "ZeroDivisionError: division by zero"}},
		{1, "ERROR:root:cache refresh failed",
			[]string{"redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
				"The above exception was the direct cause of the following exception:", "RuntimeError: cache down"}},
	})
	if g := f.groups[1]; g.Example[0] != pyTraceHead {
		t.Errorf("a bare traceback's example starts %q", g.Example[0])
	}
	if r := c.result(f, ""); firstLine(r) != "5 errors in 3 groups on web-1" {
		t.Errorf("result %v %q", r.Status, r.Message)
	}
}

// A bare traceback whose exception the pattern does not match is not an
// error, and neither are its lines.
func TestPythonBareTracebackNotMatched(t *testing.T) {
	f, _ := readSample(t, "python_error.log", "--pattern", `ERROR`)
	if f.total != 3 || len(f.groups) != 2 {
		for _, g := range f.groups {
			t.Logf("%d× %q", g.Count, g.Key)
		}
		t.Errorf("%d errors in %d groups, want 3 in 2", f.total, len(f.groups))
	}
}
