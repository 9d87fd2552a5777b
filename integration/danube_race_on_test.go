//go:build race

package integration

// danubeRaceEnabled scales the danube e2e volume down under the race
// detector, which slows the pipeline 5-10x.
const danubeRaceEnabled = true
