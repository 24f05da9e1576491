package manpage

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestManPage(t *testing.T) {
	var out bytes.Buffer
	app := &cli.App{Name: "probe", Usage: "a probe", Writer: &out, Commands: []*cli.Command{
		{Name: "run", Usage: "run it", Flags: []cli.Flag{&cli.StringFlag{Name: "page", Usage: "the `FILE`"}}},
		Command(),
	}}
	err := app.Run([]string{"probe", "man"})
	if !Supported {
		if !errors.Is(err, ErrNoDocs) || out.Len() != 0 {
			t.Fatalf("built with urfave_cli_no_docs: man gave %v and %d bytes, want ErrNoDocs and nothing", err, out.Len())
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	page := out.String()
	for _, want := range []string{".TH probe", "run it", "--page"} {
		if !strings.Contains(page, want) {
			t.Errorf("manual page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "\nman\n") {
		t.Errorf("the hidden man command documents itself")
	}
	if err := app.Run([]string{"probe", "man", "extra"}); err == nil {
		t.Error("man with an argument accepted")
	}
}
