//go:build urfave_cli_no_docs

package manpage

import "github.com/urfave/cli/v2"

// Supported says whether this build can generate manual pages.
const Supported = false

func toMan(*cli.App) (string, error) { return "", ErrNoDocs }
