package console

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag value for an amount of memory: a number of bytes,
// with an optional K, M, G or T suffix in powers of 1024 ("512M", "2G";
// "KiB" and "MB" spellings are read the same way).
type byteSize uint64

func (b *byteSize) String() string {
	if *b == 0 {
		return "0"
	}
	return bytesIEC(uint64(*b))
}

func (b *byteSize) Set(s string) error {
	num := strings.TrimSpace(s)
	upper := strings.ToUpper(num)
	upper = strings.TrimSuffix(strings.TrimSuffix(upper, "IB"), "B")
	shift := 0
	if n := len(upper); n > 0 {
		if i := strings.IndexByte("KMGT", upper[n-1]); i >= 0 {
			shift, upper = 10*(i+1), upper[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(upper), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Errorf("%q is not a size like 512M or 2G", s)
	}
	bytes := v * float64(uint64(1)<<shift)
	if bytes >= math.MaxUint64 {
		return fmt.Errorf("%q is too large", s)
	}
	*b = byteSize(bytes)
	return nil
}
