package verify

import "crypto/sha512"

var sha512New = sha512.New
