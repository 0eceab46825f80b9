package mathverify

import (
	"regexp"
	"strings"
)

// maxScan bounds how much of a completion extraction looks at; the answer
// is at the end, so only the tail is kept.
const maxScan = 200000

// maxMarkers bounds how many "answer" phrases are tried, from the last;
// maxAnswerSpan bounds the text read after one.
const (
	maxMarkers    = 20
	maxAnswerSpan = 2000
)

// span is a located piece of answer text.
type span struct {
	start, end int
	text       string
}

// boxedSpans finds every \boxed{...} and \fbox{...} (balanced braces), and
// "\boxed 5" without braces.
func boxedSpans(s string) []span {
	var out []span
	nextBox, nextFbox := -2, -2 // -2: not searched yet; -1: none left
	find := func(cached *int, from int, pat string) int {
		if *cached == -1 || (*cached >= from) {
			return *cached
		}
		k := strings.Index(s[from:], pat)
		if k < 0 {
			*cached = -1
		} else {
			*cached = from + k
		}
		return *cached
	}
	for i := 0; i < len(s); {
		j := find(&nextBox, i, `\boxed`)
		k := find(&nextFbox, i, `\fbox`)
		start := j
		if j < 0 || (k >= 0 && k < j) {
			start = k
		}
		if start < 0 {
			break
		}
		p := start + len(`\boxed`)
		if start == k {
			p = start + len(`\fbox`)
		}
		q := p
		for q < len(s) && (s[q] == ' ' || s[q] == '\n') {
			q++
		}
		if q < len(s) && s[q] == '{' {
			end := matchBrace(s, q)
			if end < 0 {
				// Unclosed: take the rest, as a truncated answer.
				out = append(out, span{start, len(s), s[q+1:]})
				break
			}
			out = append(out, span{start, end + 1, s[q+1 : end]})
			i = end + 1
			continue
		}
		if q > p && q < len(s) {
			e := q
			for e < len(s) && s[e] != ' ' && s[e] != '$' && s[e] != '\n' {
				e++
			}
			out = append(out, span{start, e, s[q:e]})
			i = e
			continue
		}
		i = p
	}
	return out
}

var andOrRe = regexp.MustCompile(`\b(and|or)\b`)

var gapNoise = regexp.MustCompile(`\\text\{|\\textbf\{|\\quad|\\qquad|\\[,;:! ]|\\\(|\\\)|\\\[|\\\]|[${}(),;.:\\]|\band\b|\bor\b`)

// boxGroupGap reports whether the text between two boxes is short glue
// ("and", ",", "\quad \text{and} \quad", "papers and") so the boxes form
// one multi-part answer.
func boxGroupGap(gap string) bool {
	if len(gap) > 80 || strings.Contains(gap, "\n\n") {
		return false
	}
	rest := gapNoise.ReplaceAllString(gap, " ")
	words := 0
	for _, f := range strings.Fields(rest) {
		if strings.IndexFunc(f, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) >= 0 {
			words++
		}
	}
	if words == 0 {
		return true
	}
	// A few words are fine only next to an explicit separator.
	lg := strings.ToLower(gap)
	hasSep := strings.Contains(gap, ",") || strings.Contains(gap, ";") || andOrRe.MatchString(lg)
	return hasSep && words <= 3
}

// lastBoxedGroup returns the last box, joined with the boxes right before it
// when only glue separates them.
func lastBoxedGroup(s string) (span, bool) {
	boxes := boxedSpans(s)
	if len(boxes) == 0 {
		return span{}, false
	}
	last := len(boxes) - 1
	first := last
	for first > 0 && boxGroupGap(s[boxes[first-1].end:boxes[first].start]) {
		first--
	}
	if first == last {
		return boxes[last], true
	}
	parts := make([]string, 0, last-first+1)
	for _, b := range boxes[first : last+1] {
		parts = append(parts, b.text)
	}
	return span{boxes[first].start, boxes[last].end, strings.Join(parts, ", ")}, true
}

// mathEnvs finds $...$, $$...$$, \(...\) and \[...\] regions. Inline ones
// may not span lines.
func mathEnvs(s string) []span {
	var out []span
	// Once a closer is known to be absent, later openers skip the search,
	// which keeps hostile input linear.
	missing := map[string]bool{}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == '(' || s[i+1] == '['):
			closer := `\)`
			if s[i+1] == '[' {
				closer = `\]`
			}
			if missing[closer] {
				continue
			}
			e := strings.Index(s[i+2:], closer)
			if e < 0 {
				missing[closer] = true
				continue
			}
			body := s[i+2 : i+2+e]
			if closer == `\)` && strings.Contains(body, "\n") {
				continue
			}
			out = append(out, span{i, i + 2 + e + 2, body})
			i = i + 2 + e + 1
		case s[i] == '\\':
			i++ // skip escaped char such as \$
		case s[i] == '$':
			if i+1 < len(s) && s[i+1] == '$' {
				if missing["$$"] {
					continue
				}
				e := strings.Index(s[i+2:], "$$")
				if e < 0 {
					missing["$$"] = true
					continue
				}
				out = append(out, span{i, i + 2 + e + 2, s[i+2 : i+2+e]})
				i = i + 2 + e + 1
				continue
			}
			e := i + 1
			for e < len(s) && s[e] != '$' && s[e] != '\n' {
				if s[e] == '\\' {
					e++
				}
				e++
			}
			if e >= len(s) || s[e] != '$' {
				continue
			}
			body := s[i+1 : e]
			if strings.TrimSpace(body) != "" {
				out = append(out, span{i, e + 1, body})
			}
			i = e
		}
	}
	return out
}

var (
	numberRe = regexp.MustCompile(`-?\d{1,3}(?:(?:,|\\,|\\!|,\\!| )\d{3})+(?:\.\d+)?|-?\d+(?:[.,]\d+)?(?:/\d+(?:\.\d+)?)?|-?\.\d+`)
)

// lastNumber returns the last number in plain text, with thousands
// separators removed and a decimal comma ("2,74") read as a point.
func lastNumber(s string) (span, bool) {
	// Search growing tail windows: the answer is nearly always near the end
	// and the regexp is the costliest step of extraction.
	for _, w := range []int{256, 4096} {
		if len(s) <= w {
			break
		}
		start := len(s) - w
		for start > 0 && s[start-1] != ' ' && s[start-1] != '\n' && start > len(s)-w-64 {
			start--
		}
		if sp, ok := lastNumberIn(s[start:]); ok {
			sp.start += start
			sp.end += start
			return sp, true
		}
	}
	return lastNumberIn(s)
}

func lastNumberIn(s string) (span, bool) {
	locs := numberRe.FindAllStringIndex(s, -1)
	for i := len(locs) - 1; i >= 0; i-- {
		a, b := locs[i][0], locs[i][1]
		if a > 0 && isLetter(s[a-1]) || (a > 0 && s[a-1] == '_') {
			continue
		}
		if b < len(s) && isLetter(s[b]) && b+1 < len(s) && isLetter(s[b+1]) && strings.ToUpper(s[b:b+2]) == s[b:b+2] {
			continue // AZYUK2A: part of a word
		}
		return span{a, b, cleanNumber(s[a:b])}, true
	}
	return span{}, false
}

func cleanNumber(n string) string {
	n = strings.NewReplacer(`\,`, "", `\!`, "", " ", "").Replace(n)
	if strings.Count(n, ",") == 1 && !strings.Contains(n, ".") {
		i := strings.IndexByte(n, ',')
		intPart := strings.TrimPrefix(n[:i], "-")
		frac := n[i+1:]
		if intPart == "0" || len(frac) == 2 || len(frac) > 3 || len(intPart) > 3 && len(frac) != 3 {
			return n[:i] + "." + frac
		}
		if len(frac) != 3 {
			return n // "-2,1" is a list
		}
	}
	return strings.ReplaceAll(n, ",", "")
}

// phraseAnswer reads the answer after the last "final answer is" /
// "answer:" marker: a math region if one follows, else the rest of the
// sentence.
func phraseAnswer(s string) (span, bool) {
	locs := answerMarkers(s)
	for i := len(locs) - 1; i >= 0 && i >= len(locs)-maxMarkers; i-- {
		a, b := locs[i][0], locs[i][1]
		m := strings.ToLower(s[a:b])
		if !strings.Contains(m, "is") && !strings.Contains(m, ":") {
			// Bare "answer" only counts when math follows at once.
			rest := s[b:]
			if !(strings.HasPrefix(rest, "$") || strings.HasPrefix(rest, `\(`) || strings.HasPrefix(rest, `\[`)) {
				continue
			}
		}
		tail := s[b:]
		if len(tail) > maxAnswerSpan {
			tail = tail[:maxAnswerSpan]
		}
		end := sentenceEnd(tail)
		seg := tail[:end]
		if envs := mathEnvs(seg); len(envs) > 0 {
			// "The largest $n$ is 34": a number after the last math region wins.
			last := envs[len(envs)-1]
			after := seg[last.end:]
			if n, ok := lastNumber(after); ok && strings.TrimSpace(after) != "" && strings.Contains(after, " is ") {
				return span{a, b + last.end + n.end, n.text}, true
			}
			if len(envs) > 1 {
				// "is $12$ and $13$": keep every region.
				parts := make([]string, len(envs))
				for k, e := range envs {
					parts[k] = e.text
				}
				between := seg[envs[0].end:envs[len(envs)-1].start]
				if boxGroupGap(between) {
					return span{a, b + last.end, strings.Join(parts, ", ")}, true
				}
			}
			return span{a, b + last.end, last.text}, true
		}
		txt := strings.TrimSpace(seg)
		if k := strings.LastIndex(txt, " is "); k >= 0 {
			txt = txt[k+4:]
		}
		txt = strings.TrimSpace(strings.Trim(txt, "*"))
		if txt == "" || strings.Contains(txt, "$") || strings.Contains(txt, `\(`) || strings.Contains(txt, `\[`) {
			continue
		}
		if !looksLikeAnswer(txt) {
			if n, ok := lastNumber(txt); ok {
				return span{a, b + end, n.text}, true
			}
			continue
		}
		return span{a, b + end, txt}, true
	}
	return span{}, false
}

func firstLine(s string) string {
	if k := strings.IndexByte(s, '\n'); k >= 0 {
		return s[:k]
	}
	return s
}

// lastAnswerTag returns the content of the last <answer>...</answer>.
func lastAnswerTag(s string) (string, bool) {
	e := strings.LastIndex(s, "</answer>")
	if e < 0 {
		return "", false
	}
	b := strings.LastIndex(s[:e], "<answer>")
	if b < 0 {
		return "", false
	}
	return s[b+len("<answer>") : e], true
}

var plainNumberRe = regexp.MustCompile(`^-?\d{1,3}(?:[ ,]\d{3})+(?:\.\d+)?$|^-?\d+,\d+$`)

// separatorGap reports text that only separates list items.
func separatorGap(gap string) bool {
	g := strings.ToLower(strings.TrimSpace(gap))
	g = strings.TrimSpace(strings.TrimPrefix(g, ","))
	return g == "and" || g == "or" || g == "" || g == ","
}

// looksLikeAnswer reports whether text is a math answer rather than prose:
// it parses, and it has at most one ordinary word outside \text{}.
func looksLikeAnswer(t string) bool {
	if _, err := parse(t); err != nil {
		return false
	}
	words := 0
	for _, tok := range lex(t) {
		if tok.kind != tWord || len(tok.text) < 2 {
			continue
		}
		w := strings.ToLower(tok.text)
		if funcNames[w] || isUnitWord(w) || isPercentWord(w) || w == "pi" || w == "and" || w == "or" || w == "infty" {
			continue
		}
		words++
	}
	return words <= 1
}

// answerMarkers finds "answer", "answer is", "answer:" and "answer is:"
// (any case) and returns [start, end-of-marker] pairs.
func answerMarkers(s string) [][2]int {
	var out [][2]int
	for i := 0; i+6 <= len(s); {
		k := indexFold(s[i:], "answer")
		if k < 0 {
			break
		}
		a := i + k
		b := a + 6
		j := skipSpace(s, b)
		if j+2 <= len(s) && strings.EqualFold(s[j:j+2], "is") && (j+2 == len(s) || !isLetter(s[j+2])) {
			b = j + 2
			j = skipSpace(s, b)
		}
		if j < len(s) && s[j] == ':' {
			b = j + 1
		}
		b = skipSpace(s, b)
		out = append(out, [2]int{a, b})
		i = a + 6
	}
	return out
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '*') {
		i++
	}
	return i
}

// indexFold is an ASCII case-insensitive strings.Index for a lower-case
// needle.
func indexFold(s, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		c := s[i] | 0x20
		if c != needle[0] {
			continue
		}
		ok := true
		for k := 1; k < n; k++ {
			if s[i+k]|0x20 != needle[k] {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// sentenceEnd finds where the answer sentence stops: a full stop followed
// by space, a blank line, or "I hope".
func sentenceEnd(t string) int {
	end := len(t)
	if k := strings.Index(t, "\n\n"); k >= 0 && k < end {
		end = k
	}
	if k := strings.Index(t, "I hope"); k >= 0 && k < end {
		end = k
	}
	depth := 0
	inMath := false
	for i := 0; i < end; i++ {
		switch t[i] {
		case '$':
			inMath = !inMath
		case '{':
			depth++
		case '}':
			depth--
		case '\n':
			if !inMath && i > 0 {
				return i
			}
		case '.':
			if !inMath && depth <= 0 && (i+1 == len(t) || t[i+1] == ' ' || t[i+1] == '\n') && !(i > 0 && t[i-1] >= '0' && t[i-1] <= '9' && i+1 < len(t) && t[i+1] >= '0' && t[i+1] <= '9') {
				return i
			}
		}
	}
	return end
}

// extract finds the final answer in s. Order: the last \boxed group or a
// later "final answer is" phrase; <answer> tags; "answer is"; "#### n"; the
// whole text when it is itself an answer; the last math region or number,
// whichever comes later.
func extract(s string) (string, bool) {
	if len(s) > maxScan {
		s = s[len(s)-maxScan:]
	}
	box, hasBox := lastBoxedGroup(s)
	if hasBox {
		if ph, ok := phraseAnswer(s[box.end:]); ok && strings.Contains(strings.ToLower(s[box.end:]), "final answer") {
			return ph.text, true
		}
		return box.text, true
	}
	if inner, ok := lastAnswerTag(s); ok {
		inner := strings.TrimSpace(inner)
		if inner != "" && inner != s {
			if a, ok := extract(inner); ok {
				return a, true
			}
			return inner, true
		}
	}
	if ph, ok := phraseAnswer(s); ok {
		return ph.text, true
	}
	if k := strings.LastIndex(s, "####"); k >= 0 && strings.TrimSpace(firstLine(s[k+4:])) != "" {
		v := strings.TrimSpace(firstLine(s[k+4:]))
		if n, ok := lastNumber(v); ok && strings.TrimSpace(strings.Trim(v, "$. ")) == strings.TrimSpace(v[n.start:n.end]) {
			return n.text, true
		}
		return v, true
	}
	trimmed := strings.TrimSpace(s)
	if trimmed == "" {
		return "", false
	}
	if plainNumberRe.MatchString(trimmed) {
		return cleanNumber(trimmed), true
	}
	if !strings.ContainsAny(trimmed, "$") && !strings.Contains(trimmed, `\(`) && !strings.Contains(trimmed, `\[`) && len(trimmed) <= 1000 {
		if looksLikeAnswer(trimmed) {
			return trimmed, true
		}
	} else if stripped := stripDelimiters(trimmed); stripped != trimmed && !strings.ContainsAny(stripped, "$") {
		if looksLikeAnswer(stripped) {
			return stripped, true
		}
	}
	envs := mathEnvs(s)
	num, hasNum := lastNumber(s)
	if len(envs) > 0 {
		last := envs[len(envs)-1]
		if !hasNum || num.start < last.end {
			// "$1$ and $2$ and $3$": regions joined only by "and", "or"
			// or a comma form one answer.
			first := len(envs) - 1
			for first > 0 && separatorGap(s[envs[first-1].end:envs[first].start]) {
				first--
			}
			if first < len(envs)-1 {
				parts := make([]string, 0, len(envs)-first)
				for _, e := range envs[first:] {
					parts = append(parts, e.text)
				}
				return strings.Join(parts, ", "), true
			}
			return last.text, true
		}
	}
	if hasNum {
		return num.text, true
	}
	return "", false
}
