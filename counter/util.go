package counter

import (
	"sort"
	"strconv"
	"strings"
)

func sortStrings(s []string) { sort.Strings(s) }
func quote(s string) string  { return strconv.Quote(s) }
func join(s []string) string { return strings.Join(s, ", ") }
