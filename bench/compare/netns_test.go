package compare

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestOwnerAlive: only a namespace whose creator is gone is stale.
func TestOwnerAlive(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		want bool
	}{
		{ownPrefix() + "abcdef-c0", true},
		{fmt.Sprintf("%s%d-abcdef-s1", nsPrefix, os.Getppid()), true},
		{fmt.Sprintf("%s%d-abcdef-c0", nsPrefix, dead.Process.Pid), false},
		{nsPrefix + "abcdef-c0", false}, // an older harness's name, no pid
		{nsPrefix + "0-abcdef-c0", false},
		{"other-ns", true}, // not ours: never touched
	}
	for _, c := range cases {
		if got := ownerAlive(c.name); got != c.want {
			t.Errorf("ownerAlive(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}
