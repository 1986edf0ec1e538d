// Benchmark baseline only (bench/stemcell-import.ts builds it into .cache/): the upstream warden CPI's
// gunzip-mode stemcell step, standard library only. Never shipped in the release.
module github.com/garden-cpi/tools/bench/go-gunzip

go 1.26.0
