package tokenizer

// Decode turns ids back into text the way Hugging Face's ByteLevel decoder
// does: token bytes are concatenated and invalid UTF-8 becomes U+FFFD. With
// skipSpecial, added tokens marked special are left out. Unknown ids are
// skipped.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	buf := make([]byte, 0, len(ids)*4)
	for _, id := range ids {
		buf = t.appendBytes(buf, id, skipSpecial)
	}
	return string(appendLossyUTF8(make([]byte, 0, len(buf)), buf))
}

// DecodeBytes returns the raw bytes of ids without UTF-8 repair.
func (t *Tokenizer) DecodeBytes(ids []int32, skipSpecial bool) []byte {
	var buf []byte
	for _, id := range ids {
		buf = t.appendBytes(buf, id, skipSpecial)
	}
	return buf
}

func (t *Tokenizer) appendBytes(buf []byte, id int32, skipSpecial bool) []byte {
	if id < 0 || int(id) >= len(t.idBytes) || (skipSpecial && t.special[id]) {
		return buf
	}
	return append(buf, t.idBytes[id]...)
}

// Decoder decodes a stream of ids one at a time, as a sampler produces them,
// and never returns half a UTF-8 character: bytes of an unfinished character
// wait for the next id.
type Decoder struct {
	t           *Tokenizer
	skipSpecial bool
	pending     []byte
}

// NewDecoder returns a streaming decoder; skipSpecial drops special tokens.
func (t *Tokenizer) NewDecoder(skipSpecial bool) *Decoder {
	return &Decoder{t: t, skipSpecial: skipSpecial}
}

// Push adds one id and returns the text that is now complete (often "").
func (d *Decoder) Push(id int32) string {
	d.pending = d.t.appendBytes(d.pending, id, d.skipSpecial)
	n := completePrefix(d.pending)
	if n == 0 {
		return ""
	}
	out := string(appendLossyUTF8(nil, d.pending[:n]))
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return out
}

// Flush returns whatever is still pending, with an unfinished character
// replaced by U+FFFD, and resets the decoder.
func (d *Decoder) Flush() string {
	out := string(appendLossyUTF8(nil, d.pending))
	d.pending = d.pending[:0]
	return out
}
