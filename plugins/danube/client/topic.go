package client

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
)

// ValidateTopic applies the broker's topic name rule (validate_topic_format in
// danube-broker): the name splits on '/' into exactly three parts (a leading
// empty part, the namespace and the topic) and every character is a Unicode
// letter or digit, '_' or '-'. Checking it client-side turns a round trip
// into an immediate, permanent *Error with code InvalidArgument.
func ValidateTopic(topic string) error {
	parts := strings.Split(topic, "/")
	ok := len(parts) == 3 && parts[0] == ""
	if ok {
		for _, r := range topic {
			if r != '/' && r != '_' && r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				ok = false
				break
			}
		}
	}
	if !ok {
		return &Error{
			Op:      "validate topic",
			Topic:   topic,
			Code:    codes.InvalidArgument,
			Message: fmt.Sprintf("the topic %q has an invalid format, should be: /namespace_name/topic_name", topic),
		}
	}
	return nil
}

// PartitionTopic is the name of partition n of a partitioned topic.
func PartitionTopic(topic string, n int) string {
	return fmt.Sprintf("%s-part-%d", topic, n)
}

// PartitionForKey returns the partition a routing key maps to, compatible with
// the official clients: FNV-1a-64(key) mod partitions.
func PartitionForKey(key string, partitions int) int {
	if partitions <= 1 {
		return 0
	}
	return int(fnv1a64(key) % uint64(partitions))
}

func fnv1a64(s string) uint64 {
	const (
		offsetBasis = 0xcbf29ce484222325
		prime       = 0x100000001b3
	)
	h := uint64(offsetBasis)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}

// ownPartitions keeps the names that belong to topic: the topic itself or
// "{topic}-part-N". The broker's TopicPartitions does a raw prefix scan, so
// "/default/orders" would otherwise also pick up "/default/orders2".
func ownPartitions(topic string, names []string) []string {
	out := make([]string, 0, len(names))
	prefix := topic + "-part-"
	for _, n := range names {
		if n == topic {
			out = append(out, n)
			continue
		}
		num, ok := strings.CutPrefix(n, prefix)
		if ok && num != "" && strings.Trim(num, "0123456789") == "" {
			out = append(out, n)
		}
	}
	return out
}

// sortPartitions orders "-part-N" names numerically (the broker lists them
// lexicographically, "part-10" before "part-2").
func sortPartitions(names []string) {
	num := func(s string) int {
		i := strings.LastIndex(s, "-part-")
		if i < 0 {
			return -1
		}
		n := 0
		for _, r := range s[i+len("-part-"):] {
			n = n*10 + int(r-'0')
		}
		return n
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(num(a), num(b)) })
}
