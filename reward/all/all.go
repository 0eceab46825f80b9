// Package all links every reward into a binary: import it for its side
// effect (registration) wherever rewards are looked up by name, as the CLI
// and the trainer do.
package all

import (
	// Each package registers its rewards in init.
	_ "github.com/r1go/r1/reward/code"
	_ "github.com/r1go/r1/reward/countdown"
	_ "github.com/r1go/r1/reward/format"
	_ "github.com/r1go/r1/reward/judge"
	_ "github.com/r1go/r1/reward/language"
	_ "github.com/r1go/r1/reward/length"
	_ "github.com/r1go/r1/reward/mathverify"
	_ "github.com/r1go/r1/reward/remote"
	_ "github.com/r1go/r1/reward/rm"
)
