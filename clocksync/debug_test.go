package clocksync_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

func TestDebugDump(t *testing.T) {
	if os.Getenv("DUMP") == "" {
		t.Skip()
	}
	f, _ := os.Create("/tmp/dump.txt")
	defer f.Close()
	sc := sim.LAN(5, 8*86400)
	sc.Poll.Period = 1024
	w, _ := strconv.ParseFloat(os.Getenv("DUMP"), 64)
	st := runScenario(t, sc, runOpts{cfg: func(c *clocksync.Config) {
		if w > 0 {
			c.RateWander = w
		}
	}, report: func(ex sim.Exchange, r clocksync.Result, e float64) {
		p := r.Params
		fmt.Fprintf(f, "%d %.0f %.3f %.3f %.3f %.4f %v\n", ex.Index, ex.T, e*1e6, p.ErrorBound*1e6, (ex.Fwd+ex.Back-100e-6)*1e6, (p.PeriodLocal*1e9-1/(1+35e-6))*1e3, p.Status)
	}})
	t.Log(st.summary())
}
