//go:build !urfave_cli_no_docs

package manpage

import "github.com/urfave/cli/v2"

// Supported says whether this build can generate manual pages.
const Supported = true

func toMan(a *cli.App) (string, error) { return a.ToMan() }
