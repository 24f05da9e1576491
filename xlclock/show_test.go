package main

import (
	"strings"
	"testing"
)

func TestShowErrors(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	h.addGuest(7, "web1") // a second domain named web1
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "99"}, "no domain with id 99"},
		{[]string{"show", "nosuch"}, `no domain named "nosuch"`},
		{[]string{"show", "web1"}, "2 domains are named \"web1\" (ids 1, 7): give the id"},
		{[]string{"show"}, "show takes one DOMAIN"},
		{[]string{"show", "1", "--json"}, "flags go before DOMAIN"},
	} {
		_, err := h.xl(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if out, err := h.xl("show", "7"); err != nil || !strings.Contains(out, "agent:         none") {
		t.Errorf("show 7: %v\n%s", err, out)
	}
	if out, err := h.xl("show", "0"); err != nil || !strings.Contains(out, "clock:         this host's, published by dom0d: generation 42") {
		t.Errorf("show 0: %v\n%s", err, out)
	}
}
