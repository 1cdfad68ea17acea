package window

import (
	"os"
	"testing"
	"time"
)

// FuzzParse: no calendar, however broken, makes Parse, Decide, Upcoming or
// Render panic or hang.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"tokyo.ics", "london.ics"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:deploy\r\nDTSTART;VALUE=DATE:20261207\r\n" +
		"RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\nEXDATE;VALUE=DATE:20261207,x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:freeze\r\nRECURRENCE-ID:20261207T000000Z\r\n" +
		"DTSTART:20261207T000000Z\r\nDURATION:P1W\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"))
	o := testOptions()
	now := time.Date(2026, 12, 7, 1, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, o)
		if err != nil {
			return
		}
		d := s.Decide(now)
		if d.Reason == "" {
			t.Errorf("a decision without a reason: %+v", d)
		}
		if entries, err := s.Upcoming(now, 3); err == nil {
			s.Render(discard{}, now, d, entries)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
