package main

import (
	"crypto/rsa"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/ssh"
)

// The fixes a configError prints. Each is derived from what the operator typed where a fix
// can be derived; otherwise it holds a <placeholder> that the shell refuses, so it can never
// be pasted as a value by mistake.

// publicKeyExpression reads the operator's usual public key, for a fix.
const publicKeyExpression = `"$(cat ~/.ssh/id_ed25519.pub)"`

// setFix sets the key to value, quoted for a POSIX shell; value may not be a placeholder.
func setFix(key, value string) string {
	if value == publicKeyExpression {
		return fmt.Sprintf("pulumi config set %s:%s %s", configNamespace, key, value)
	}
	return fmt.Sprintf("pulumi config set %s:%s %s", configNamespace, key, shellQuote(value))
}

// placeholderFix shows the command with a placeholder the operator replaces.
func placeholderFix(key, placeholder string) string {
	return fmt.Sprintf("pulumi config set %s:%s %s", configNamespace, key, placeholder)
}

func rmFix(key string) string { return fmt.Sprintf("pulumi config rm %s:%s", configNamespace, key) }

// secretFix sets the key again, to the value it has, as a secret, without printing it.
func secretFix(key string) string {
	return fmt.Sprintf(`pulumi config set --secret %[1]s:%[2]s "$(pulumi config get %[1]s:%[2]s)"`, configNamespace, key)
}

// derivedFix sets candidate when it is valid, otherwise shows the placeholder.
func derivedFix(key, candidate string, valid *regexp.Regexp, placeholder string) string {
	if candidate != "" && valid.MatchString(candidate) {
		return setFix(key, candidate)
	}
	return placeholderFix(key, placeholder)
}

// shellQuote quotes a value for a POSIX shell where it needs it.
func shellQuote(value string) string {
	if value != "" && strings.IndexFunc(value, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("@%+=:,./_-", r)))
	}) < 0 {
		return value
	}
	return "'" + strings.ReplaceAll(value, "'", `'\''`) + "'"
}

// fixAMI undoes the usual typos in an AMI id: case, quotes, spaces, a missing ami- prefix.
func fixAMI(raw string) string {
	id := strings.ToLower(strings.Trim(strings.ReplaceAll(raw, " ", ""), `"'`))
	if !strings.HasPrefix(id, "ami-") && amiIDPattern.MatchString("ami-"+id) {
		id = "ami-" + id
	}
	return id
}

// fixInteger reads a number out of "50GB", "1,000" or " 8 " and brings it into range.
func fixInteger(key, raw string, lo, hi int) string {
	digits := strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return r
		}
		if r == ',' || r == '_' || unicode.IsSpace(r) {
			return -1
		}
		return 'x'
	}, strings.TrimRightFunc(raw, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsSpace(r) }))
	if n, err := strconv.Atoi(digits); err == nil {
		return setFix(key, strconv.Itoa(clamp(n, lo, hi)))
	}
	return placeholderFix(key, fmt.Sprintf("<%d-%d>", lo, hi))
}

// clamp brings n into [lo, hi].
func clamp(n, lo, hi int) int { return min(max(n, lo), hi) }

// fixBoolean reads the words people use for true and false.
func fixBoolean(key, raw string) string {
	switch strings.ToLower(raw) {
	case "yes", "y", "on", "enable", "enabled", "protect", "protected":
		return setFix(key, "true")
	case "no", "n", "off", "disable", "disabled", "none":
		return setFix(key, "false")
	}
	return placeholderFix(key, "<true|false>")
}

// closestChoice is the choice the raw value means, ignoring case, spaces and underscores
// ("Spot", "OnDemand", "on_demand"), or "".
func closestChoice(raw string, choices []string) string {
	squash := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, s)
	}
	for _, choice := range choices {
		if squash(choice) == squash(raw) {
			return choice
		}
	}
	return ""
}

var wordPattern = regexp.MustCompile(`[A-Za-z]+`)

// normalizeWorkingHours fixes the case of day names and time zones and pads hours
// ("mon-fri 7:00-19:00 europe/berlin"), when that makes the value valid.
func normalizeWorkingHours(raw string) (string, bool) {
	fields := strings.Fields(raw)
	if len(fields) != 3 {
		return "", false
	}
	days := titleCase(fields[0])
	hours := normalizeHours(fields[1])
	zone := fields[2]
	if _, err := time.LoadLocation(zone); err != nil {
		zone = strings.ToUpper(zone)
		if _, err := time.LoadLocation(zone); err != nil {
			zone = titleCase(fields[2])
		}
	}
	normalized := strings.Join([]string{days, hours, zone}, " ")
	if _, err := parseWorkingHours(normalized); err != nil || normalized == raw {
		return "", false
	}
	return normalized, true
}

// titleCase writes each word of s with a capital first letter ("mon-FRI" is "Mon-Fri",
// "europe/berlin" is "Europe/Berlin").
func titleCase(s string) string {
	return wordPattern.ReplaceAllStringFunc(s, func(word string) string { return strings.ToUpper(word[:1]) + strings.ToLower(word[1:]) })
}

// normalizeDaysAndHours is the days and hours of working hours typed without a time zone
// ("Mon-Fri 7-19"), written as the key takes them, if they are valid then.
func normalizeDaysAndHours(raw string) (days, hours string, ok bool) {
	fields := strings.Fields(raw)
	if len(fields) != 2 {
		return "", "", false
	}
	days = titleCase(fields[0])
	hours = normalizeHours(fields[1])
	_, err := parseWorkingHours(days + " " + hours + " UTC")
	return days, hours, err == nil
}

// normalizeHours pads the hours of a range to HH:MM ("7-19" and "7:00-19:00" are
// "07:00-19:00").
func normalizeHours(hours string) string {
	hours = regexp.MustCompile(`\b(\d):`).ReplaceAllString(hours, "0$1:")
	if m := regexp.MustCompile(`^(\d{1,2})-(\d{1,2})$`).FindStringSubmatch(hours); m != nil {
		from, _ := strconv.Atoi(m[1])
		to, _ := strconv.Atoi(m[2])
		return fmt.Sprintf("%02d:00-%02d:00", from, to)
	}
	return hours
}

// sanitizeNamePrefix turns a prefix into letters, digits, '.', '_' and '-'.
func sanitizeNamePrefix(raw string) string {
	cleaned := strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-", r)) {
			return r
		}
		return '-'
	}, raw)
	return strings.TrimLeft(cleaned, "._-")
}

// privateKeyRE finds the armour of a private key, and privateKeyKinds names them.
var (
	privateKeyRE    = regexp.MustCompile(`-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----`)
	privateKeyKinds = map[string]string{
		"OPENSSH ": "OpenSSH private key", "RSA ": "PEM RSA private key", "": "PKCS#8 private key",
		"ENCRYPTED ": "encrypted PKCS#8 private key", "EC ": "PEM EC private key", "DSA ": "PEM DSA private key",
	}
)

// privateKeyKind names the kind of private key the value is, or "" when it is none.
func privateKeyKind(raw string) string {
	if strings.HasPrefix(raw, "PuTTY-User-Key-File") {
		return "PuTTY private key"
	}
	m := privateKeyRE.FindStringSubmatch(raw)
	if m == nil {
		return ""
	}
	if kind, ok := privateKeyKinds[m[1]]; ok {
		return kind
	}
	return "private key"
}

// checkSSHPublicKey says what is wrong with an authorized_keys line for an EC2 key pair,
// or "" when nothing is.
func checkSSHPublicKey(raw string) string {
	key, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(raw))
	switch {
	case err != nil:
		return "is not an OpenSSH public key; paste the one line of your id_ed25519.pub, which starts with ssh-ed25519"
	case len(options) > 0:
		return fmt.Sprintf("must be a bare public key, without authorized_keys options %q", options)
	case len(strings.TrimSpace(string(rest))) > 0:
		return "must hold exactly one public key, found more"
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519:
	case ssh.KeyAlgoRSA:
		if bits := key.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey).N.BitLen(); bits < minRSAKeyBits {
			return fmt.Sprintf("is a %d-bit RSA key; EC2 key pairs need at least %d bits (ssh-keygen -t ed25519 makes a better one)", bits, minRSAKeyBits)
		}
	default:
		return fmt.Sprintf("is a %s key; EC2 imports only ssh-ed25519 and ssh-rsa keys (ssh-keygen -t ed25519 makes one)", key.Type())
	}
	return ""
}

// parseCidrBlocks parses a comma-separated list of networks. On a problem it says what is
// wrong with each entry and returns the list corrected where every entry can be: a bare
// address as /32 or /128, host bits cleared, IPv4-mapped addresses as IPv4, empty and
// repeated entries dropped; corrected is "" when some entry cannot be.
func parseCidrBlocks(raw string) (blocks []netip.Prefix, problem, corrected string) {
	var problems, fixed []string
	correctable := true
	for _, field := range strings.Split(raw, ",") {
		field = strings.TrimSpace(field)
		prefix, err := netip.ParsePrefix(field)
		if field == "" {
			problems = append(problems, "has an empty entry")
			continue
		}
		if err != nil {
			if addr, addrErr := netip.ParseAddr(field); addrErr == nil {
				prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
				problems = append(problems, fmt.Sprintf("entry %q is an address, not a network; for that one address write %s", field, prefix))
			} else {
				problems = append(problems, notANetwork(field))
				correctable = false
				continue
			}
		} else if prefix.Addr().Is4In6() {
			unmapped := netip.PrefixFrom(prefix.Addr().Unmap(), max(prefix.Bits()-96, 0)).Masked()
			problems = append(problems, fmt.Sprintf("entry %q is an IPv4-mapped IPv6 network; write it as IPv4: %s", field, unmapped))
			prefix = unmapped
		} else if prefix != prefix.Masked() {
			problems = append(problems, fmt.Sprintf("entry %q has host bits set; did you mean %s?", field, prefix.Masked()))
			prefix = prefix.Masked()
		}
		if slices.Contains(blocks, prefix) {
			problems = append(problems, fmt.Sprintf("lists %s twice", prefix))
			continue
		}
		blocks = append(blocks, prefix)
		fixed = append(fixed, prefix.String())
	}
	if len(problems) == 0 {
		return blocks, "", ""
	}
	if correctable && len(fixed) > 0 {
		corrected = strings.Join(fixed, ",")
	}
	return nil, strings.Join(problems, "; "), corrected
}

// notANetwork says what is wrong with an entry that is neither a network nor an address, in
// the operator's terms: netip's own errors name Go functions.
func notANetwork(field string) string {
	addr, bits, slashed := strings.Cut(field, "/")
	_, addrErr := netip.ParseAddr(addr)
	n, bitsErr := strconv.Atoi(bits)
	switch {
	case slashed && addr == "":
		return fmt.Sprintf("entry %q has no address before the /: the command that looked up your address printed nothing (no network, or a proxy?); "+
			"set your address yourself, or none to open nothing and use Session Manager", field)
	case slashed && addrErr == nil && bitsErr == nil && n >= 0:
		return fmt.Sprintf("entry %q has a prefix length of %d, more than the %d bits of its address", field, n, map[bool]int{true: 32, false: 128}[strings.Contains(addr, ".")])
	}
	return fmt.Sprintf("entry %q is not an IPv4 or IPv6 network such as 203.0.113.0/24 or 2001:db8::/32", field)
}

// derivedListFix sets the corrected list, or shows the placeholder.
func derivedListFix(key, corrected, placeholder string) string {
	if corrected != "" {
		return setFix(key, corrected)
	}
	return placeholderFix(key, placeholder)
}
