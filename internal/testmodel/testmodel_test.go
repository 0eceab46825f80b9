package testmodel

import "testing"

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	tok, err := Write(dir, "qwen2", 1)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("<think> 12 + 7 = 19 </think>", false)
	if tok.Decode(ids, false) != "<think> 12 + 7 = 19 </think>" || tok.EOS != 0 {
		t.Fatalf("%v %d", ids, tok.EOS)
	}
	t.Log(len(ids), tok.VocabSize())
}
