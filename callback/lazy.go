package callback

import (
	"regexp"
	"sync"
)

// lazyRegexp compiles a pattern when it is first used, not at package
// initialisation: a counted repetition such as {1,256} compiles into as many
// copies, and the function's cold start should not pay for checks only a
// callback's receiver makes.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
