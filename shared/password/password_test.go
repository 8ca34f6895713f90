package password_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/devicepass/devicepass/shared/password"
)

func TestAlphabet(t *testing.T) {
	if n := len(password.Alphabet); n != 56 {
		t.Fatalf("alphabet has %d symbols, want 56", n)
	}
	seen := map[rune]bool{}
	for _, r := range password.Alphabet {
		if seen[r] {
			t.Errorf("symbol %q appears twice", r)
		}
		seen[r] = true
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			t.Errorf("symbol %q is not an ASCII letter or digit", r)
		}
	}
	// Look-alikes, and characters that break SMTP/IMAP clients, URLs,
	// shells or phone keyboards.
	for _, r := range "0Oo1lI" + `'"` + "`\\ :@/;,.%&#$!?*()[]{}<>=+-_|~^\t\n" {
		if seen[r] {
			t.Errorf("alphabet contains %q", r)
		}
	}
}

func TestLengthAndEntropy(t *testing.T) {
	g, err := password.New(password.DefaultLength)
	if err != nil {
		t.Fatal(err)
	}
	if bits := g.EntropyBits(); bits < 128 {
		t.Fatalf("default entropy %.1f bits, want at least 128", bits)
	}
	perSymbol := math.Log2(float64(len(password.Alphabet)))
	if float64(password.MinLength)*perSymbol < 128 || float64(password.MinLength-1)*perSymbol >= 128 {
		t.Fatalf("MinLength %d is not the shortest length with 128 bits", password.MinLength)
	}
	for _, n := range []int{0, password.MinLength - 1, password.MaxLength + 1} {
		if _, err := password.New(n); err == nil {
			t.Errorf("New(%d) succeeded", n)
		}
	}
	if _, err := password.NewWithSource(nil, password.DefaultLength); err == nil {
		t.Error("NewWithSource(nil) succeeded")
	}
	seen := map[string]bool{}
	for range 100 {
		pw, err := g.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != password.DefaultLength {
			t.Fatalf("password %d long, want %d", len(pw), password.DefaultLength)
		}
		if strings.Trim(pw, password.Alphabet) != "" {
			t.Fatalf("password has symbols outside the alphabet")
		}
		if seen[pw] {
			t.Fatal("the same password twice")
		}
		seen[pw] = true
	}
}

// chi2Critical is the chi-square critical value for 55 degrees of freedom
// (56 symbols) at p = 0.001.
const chi2Critical = 93.17

func chiSquare(counts []int, total int) float64 {
	want := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		d := float64(c) - want
		x += d * d / want
	}
	return x
}

// TestUniformity draws 200k symbols from a seeded source (so the test is
// deterministic, never flaky) and checks the symbol counts against the
// uniform distribution. The same statistic over the same bytes mapped
// without rejection (b % 56) is far over the critical value: the test can
// tell the bias apart.
func TestUniformity(t *testing.T) {
	const symbols = 200_000
	src := &recorder{r: rand.NewChaCha8([32]byte{1, 2, 3})}
	g, err := password.NewWithSource(src, password.MaxLength)
	if err != nil {
		t.Fatal(err)
	}
	index := map[byte]int{}
	for i := range len(password.Alphabet) {
		index[password.Alphabet[i]] = i
	}
	counts := make([]int, len(password.Alphabet))
	n := 0
	for n < symbols {
		pw, err := g.Generate()
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(pw) {
			counts[index[pw[i]]]++
			n++
		}
	}
	if x := chiSquare(counts, n); x > chi2Critical {
		t.Fatalf("chi-square %.1f over %d symbols exceeds %.1f: not uniform", x, n, chi2Critical)
	}

	naive := make([]int, len(password.Alphabet))
	for _, b := range src.buf.Bytes()[:symbols] {
		naive[int(b)%len(password.Alphabet)]++
	}
	if x := chiSquare(naive, symbols); x < 10*chi2Critical {
		t.Fatalf("chi-square of the biased mapping is only %.1f; the test cannot detect bias", x)
	}
}

// recorder keeps what it reads.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// TestRejectionSampling feeds known bytes: the bytes from 224 up (the
// remainder of 256 / 56 that would favour the first 32 symbols) are
// skipped, every other byte b becomes Alphabet[b % 56].
func TestRejectionSampling(t *testing.T) {
	var in, want []byte
	for i := 0; len(want) < password.MinLength; i++ {
		rejected := byte(224 + i%32)
		kept := byte((i * 37) % 224)
		in = append(in, rejected, kept)
		want = append(want, password.Alphabet[int(kept)%56])
	}
	g, err := password.NewWithSource(bytes.NewReader(append(in, make([]byte, 64)...)), password.MinLength)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("Generate = %q, want %q (bytes >= 224 skipped)", got, want)
	}

	// A source that only yields rejected bytes produces no password, and
	// ends in an error when it runs dry instead of looping or emitting a
	// biased symbol.
	g, _ = password.NewWithSource(bytes.NewReader(bytes.Repeat([]byte{224, 255, 240}, 1000)), password.MinLength)
	if pw, err := g.Generate(); err == nil {
		t.Fatalf("Generate from rejected bytes only = %q", pw)
	}
	// The edge: 223 is the last byte kept and maps to the last symbol.
	g, _ = password.NewWithSource(bytes.NewReader(bytes.Repeat([]byte{223}, 64)), password.MinLength)
	if pw, _ := g.Generate(); pw != strings.Repeat(password.Alphabet[55:], password.MinLength) {
		t.Fatalf("Generate from 223s = %q", pw)
	}
}

func TestSourceError(t *testing.T) {
	boom := errors.New("boom")
	g, _ := password.NewWithSource(io.MultiReader(bytes.NewReader([]byte{1, 2}), errReader{boom}), password.MinLength)
	if _, err := g.Generate(); !errors.Is(err, boom) {
		t.Fatalf("error = %v, want the source's", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
