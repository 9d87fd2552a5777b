//go:build !race

package integration

const danubeRaceEnabled = false
