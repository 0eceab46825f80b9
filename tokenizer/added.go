package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

type addedToken struct {
	content              string
	id                   int
	lstrip, rstrip, word bool // word: single_word
}

// addedMatcher finds added tokens in text, leftmost first and longest among
// those starting at the same place, which is the match order of Hugging
// Face's Aho-Corasick (LeftmostLongest) over added tokens. A byte trie keeps
// the cost flat when hundreds of tokens share a prefix (DeepSeek's "<｜").
type addedMatcher struct {
	ids   map[string]int
	first [256]bool
	root  trieNode
}

type trieNode struct {
	next map[byte]*trieNode
	id   int // -1 when no token ends here
	tok  *addedToken
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	m := &addedMatcher{ids: make(map[string]int, len(toks)), root: trieNode{id: -1}}
	for i := range toks {
		t := &toks[i]
		if _, dup := m.ids[t.content]; dup {
			continue
		}
		m.ids[t.content] = t.id
		m.first[t.content[0]] = true
		n := &m.root
		for i := 0; i < len(t.content); i++ {
			if n.next == nil {
				n.next = map[byte]*trieNode{}
			}
			c, ok := n.next[t.content[i]]
			if !ok {
				c = &trieNode{id: -1}
				n.next[t.content[i]] = c
			}
			n = c
		}
		n.id, n.tok = t.id, t
	}
	return m
}

// longest returns the longest token starting s and its length.
func (m *addedMatcher) longest(s string) (tok *addedToken, n int) {
	node := &m.root
	for i := 0; i < len(s); i++ {
		node = node.next[s[i]]
		if node == nil {
			break
		}
		if node.tok != nil {
			tok, n = node.tok, i+1
		}
	}
	return tok, n
}

// split calls fn for each piece of s in order: text between tokens with
// id -1, and each added token with its id.
func (m *addedMatcher) split(s string, fn func(piece string, id int)) {
	if len(m.ids) == 0 {
		if s != "" {
			fn(s, -1)
		}
		return
	}
	start := 0
	for i := 0; i < len(s); i++ {
		if !m.first[s[i]] {
			continue
		}
		tok, n := m.longest(s[i:])
		if tok == nil {
			continue
		}
		a, b := i, i+n
		if tok.word && (endsWithWordChar(s[:a]) || startsWithWordChar(s[b:])) {
			// Hugging Face's matcher has consumed this match already, so a
			// token overlapping it is not looked for.
			i = b - 1
			continue
		}
		if tok.lstrip {
			for a > start {
				r, w := utf8.DecodeLastRuneInString(s[start:a])
				if !isSpace(r) {
					break
				}
				a -= w
			}
		}
		if tok.rstrip {
			for b < len(s) {
				r, w := utf8.DecodeRuneInString(s[b:])
				if !isSpace(r) {
					break
				}
				b += w
			}
		}
		if a > start {
			fn(s[start:a], -1)
		}
		fn(s[a:b], tok.id)
		i = b - 1
		start = b
	}
	if start < len(s) {
		fn(s[start:], -1)
	}
}

// isWordChar is \w as Hugging Face's single_word check (Rust regex) sees
// it: Alphabetic, marks, decimal digits, connector punctuation and the
// joiners.
func isWordChar(r rune) bool {
	return isLetter(r) || isMark(r) || unicode.IsDigit(r) ||
		unicode.In(r, unicode.Nl, unicode.Other_Alphabetic, unicode.Pc, unicode.Join_Control)
}

func endsWithWordChar(s string) bool {
	r, w := utf8.DecodeLastRuneInString(s)
	return w > 0 && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, w := utf8.DecodeRuneInString(s)
	return w > 0 && isWordChar(r)
}
