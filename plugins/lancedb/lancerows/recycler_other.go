//go:build !unix

package lancerows

func mapBuffer(size int) []byte { return make([]byte, size, max(size, recycleMin)) }

func unmapBuffer([]byte) {}
