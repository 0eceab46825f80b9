package tokenizer

// ToInt32 converts ids from Encode to the int32 ids models and samplers use.
func ToInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

// FromInt32 converts model ids back to the ints Decode takes.
func FromInt32(ids []int32) []int {
	out := make([]int, len(ids))
	for i, v := range ids {
		out[i] = int(v)
	}
	return out
}
