package main

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// diagramLabels returns the text of every cell of a .drawio.svg's embedded model, with
// its HTML markup reduced to plain lines.
func diagramLabels(t *testing.T, file string) []string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var svg struct {
		XMLName xml.Name
		Content string `xml:"content,attr"`
	}
	if err := xml.Unmarshal(raw, &svg); err != nil {
		t.Fatalf("%s is not XML: %v", file, err)
	}
	if svg.XMLName.Local != "svg" || svg.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("%s: root element is %v, want an SVG", file, svg.XMLName)
	}
	var mxfile struct {
		Diagrams []struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"diagram"`
	}
	if err := xml.Unmarshal([]byte(svg.Content), &mxfile); err != nil || len(mxfile.Diagrams) == 0 {
		t.Fatalf("%s: content attribute holds no draw.io mxfile (%v)", file, err)
	}
	var labels []string
	for _, d := range mxfile.Diagrams {
		var model struct {
			Cells []struct {
				Value string `xml:"value,attr"`
			} `xml:"root>mxCell"`
		}
		if err := xml.Unmarshal(decodeDiagram(t, d.Inner), &model); err != nil {
			t.Fatalf("%s: diagram model: %v", file, err)
		}
		for _, cell := range model.Cells {
			text := regexp.MustCompile(`(?i)<br\s*/?>|</div>|</p>`).ReplaceAllString(cell.Value, "\n")
			text = html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(text, ""))
			if strings.TrimSpace(text) != "" {
				labels = append(labels, text)
			}
		}
	}
	if len(labels) == 0 {
		t.Fatalf("%s: the model has no labelled cells", file)
	}
	return labels
}

// decodeDiagram returns a diagram's mxGraphModel XML, plain or in draw.io's compressed
// form (base64 of raw deflate of the URL-encoded XML), which draw.io may save.
func decodeDiagram(t *testing.T, inner []byte) []byte {
	t.Helper()
	trimmed := bytes.TrimSpace(inner)
	if bytes.HasPrefix(trimmed, []byte("<")) {
		return trimmed
	}
	compressed, err := base64.StdEncoding.DecodeString(string(trimmed))
	if err != nil {
		t.Fatalf("diagram is neither XML nor base64: %v", err)
	}
	inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
	if err != nil {
		t.Fatalf("diagram does not inflate: %v", err)
	}
	plain, err := url.QueryUnescape(string(inflated))
	if err != nil {
		t.Fatalf("diagram is not URL-encoded: %v", err)
	}
	return []byte(plain)
}

// labelsStartingWith returns the labels whose first line starts with title.
func labelsStartingWith(labels []string, title string) []string {
	var found []string
	for _, label := range labels {
		if strings.HasPrefix(label, title) {
			found = append(found, label)
		}
	}
	return found
}

// defaultConfig is the configuration with every default and both runners.
func defaultConfig(t *testing.T) Config {
	t.Helper()
	return mustLoadConfig(t, map[string]string{keyAmiX86: testAmiX86, keyAmiArm64: testAmiArm64, keySSHPublicKey: testSSHKey}, defaultNamePrefixStack)
}

// volumeTitle is how both diagrams title a runner's volume: "Cache EBS", "Yocto EBS".
func volumeTitle(role string) string {
	return strings.ToUpper(role[:1]) + role[1:] + " EBS"
}

// checkVolumes checks every volume box against the code: size, device and nothing else.
func checkVolumes(t *testing.T, file string, labels []string, cfg Config, wantBoxes int) {
	t.Helper()
	type volumeFacts struct{ size, device string }
	want := map[string]volumeFacts{"Root EBS": {size: fmt.Sprintf("%d GB", cfg.RootVolumeSize), device: "(root)"}}
	for _, vol := range dataVolumeSpecs(cfg) {
		want[volumeTitle(vol.role)] = volumeFacts{size: fmt.Sprintf("%d GB", vol.SizeGiB), device: vol.device}
	}
	for title, facts := range want {
		boxes := labelsStartingWith(labels, title)
		if len(boxes) != wantBoxes {
			t.Errorf("%s: %d %q boxes, want %d", file, len(boxes), title, wantBoxes)
		}
		for _, label := range boxes {
			sizes := regexp.MustCompile(`\d+ GB`).FindAllString(label, -1)
			if !slices.Equal(sizes, []string{facts.size}) || !strings.Contains(label, facts.device) || !strings.Contains(label, "gp3") {
				t.Errorf("%s: %q box says %q, the code has %s gp3 at %s", file, title, label, facts.size, facts.device)
			}
		}
	}
}

// checkNoStrayValues fails when the diagram names a device or instance type the code does not.
func checkNoStrayValues(t *testing.T, file string, labels []string, cfg Config) {
	t.Helper()
	devices := []string{}
	for _, vol := range dataVolumeSpecs(cfg) {
		devices = append(devices, vol.device)
	}
	text := strings.Join(labels, "\n")
	// NVMe names follow the order devices answer, so no diagram may promise one.
	if nvme := regexp.MustCompile(`nvme\d`).FindAllString(text, -1); len(nvme) > 0 {
		t.Errorf("%s names NVMe devices %v; EBS does not guarantee them", file, nvme)
	}
	for _, device := range regexp.MustCompile(`/dev/sd[a-z]+`).FindAllString(text, -1) {
		if !slices.Contains(devices, device) {
			t.Errorf("%s mentions %s; the code attaches only %v", file, device, devices)
		}
	}
	for _, instanceType := range regexp.MustCompile(`\b[a-z][a-z0-9]*\d[a-z]*\.\d*x?large\b`).FindAllString(text, -1) {
		if !slices.Contains(instanceTypes(cfg), instanceType) {
			t.Errorf("%s mentions %s; the default instance types are %v", file, instanceType, instanceTypes(cfg))
		}
	}
}

// tcpPorts reads the port numbers of a "TCP 22, 443, 3142" phrase in a line.
func tcpPorts(line string) []int {
	phrase := regexp.MustCompile(`TCP ((?:\d+(?:, )?)+)`).FindStringSubmatch(line)
	if phrase == nil {
		return nil
	}
	var ports []int
	for _, field := range strings.Split(phrase[1], ",") {
		if port, err := strconv.Atoi(strings.TrimSpace(field)); err == nil {
			ports = append(ports, port)
		}
	}
	return ports
}

// titled returns the labels whose first line is exactly title.
func titled(labels []string, title string) []string {
	var found []string
	for _, label := range labels {
		if first, _, _ := strings.Cut(label, "\n"); first == title {
			found = append(found, label)
		}
	}
	return found
}

// namesWord says whether text names word as a whole physical name: n3x-runner in
// "role n3x-runner:", not in "n3x-runner-sg".
func namesWord(text, word string) bool {
	return regexp.MustCompile(`(^|[^\w-])` + regexp.QuoteMeta(word) + `($|[^\w-])`).MatchString(text)
}

// oneBox returns the single label titled title, failing when there is none or several.
func oneBox(t *testing.T, file string, labels []string, title string) string {
	t.Helper()
	boxes := titled(labels, title)
	if len(boxes) != 1 {
		t.Errorf("%s: %d boxes titled %q, want 1", file, len(boxes), title)
		return ""
	}
	return boxes[0]
}

func TestArchitectureDiagramMatchesTheCode(t *testing.T) {
	const file = "architecture.drawio.svg"
	cfg := defaultConfig(t)
	labels := diagramLabels(t, file)
	checkVolumes(t, file, labels, cfg, len(architectures(cfg)))
	checkNoStrayValues(t, file, labels, cfg)

	for _, a := range architectures(cfg) {
		found := slices.ContainsFunc(labels, func(label string) bool {
			return strings.Contains(label, "Runner × n3x:"+a.countKey) && strings.Contains(label, a.instanceType) && strings.Contains(label, a.arch) &&
				namesWord(label, "instance profile "+runnerRoleName(cfg))
		})
		if !found {
			t.Errorf("%s: no runner box with %s, %s, its count n3x:%s and the instance profile %s", file, a.instanceType, a.arch, a.countKey, runnerRoleName(cfg))
		}
	}

	groups := labelsStartingWith(labels, "Security group "+securityGroupName(cfg))
	if len(groups) != 1 {
		t.Fatalf("%s: %d security group boxes named %s, want 1", file, len(groups), securityGroupName(cfg))
	}
	var fromCidrs, fromPeers []int
	for _, in := range inboundPorts {
		fromCidrs = append(fromCidrs, in.port)
		if in.fromPeers {
			fromPeers = append(fromPeers, in.port)
		}
	}
	cidrDefault := lookupKey(keySSHCidrBlocks).def
	var sawCidrs, sawPeers bool
	for _, line := range strings.Split(groups[0], "\n") {
		switch {
		case strings.Contains(line, keySSHCidrBlocks):
			sawCidrs = true
			if got := tcpPorts(line); !slices.Equal(got, fromCidrs) || !strings.Contains(line, "default "+cidrDefault) || !strings.Contains(line, sshCidrBlocksNone) {
				t.Errorf("%s: %q; the code opens TCP %v from n3x:%s (default %s, or %s)", file, line, fromCidrs, keySSHCidrBlocks, cidrDefault, sshCidrBlocksNone)
			}
		case strings.Contains(line, "between runners"):
			sawPeers = true
			if got := tcpPorts(line); !slices.Equal(got, fromPeers) {
				t.Errorf("%s: %q; the code opens TCP %v between runners", file, line, fromPeers)
			}
		}
	}
	if !sawCidrs || !sawPeers {
		t.Errorf("%s: the security group box says nothing of the ports open from n3x:%s or between runners", file, keySSHCidrBlocks)
	}
	if len(labelsStartingWith(labels, "SSH key pair "+keyPairName(cfg)+"\n")) != 1 {
		t.Errorf("%s: no box for the key pair %s", file, keyPairName(cfg))
	}
	if len(labelsStartingWith(labels, "Elastic IP per runner")) != len(architectures(cfg)) {
		t.Errorf("%s: want one Elastic IP box per runner", file)
	}

	// The runners' role and instance profile, the parameters it may read, the snapshot
	// policy and its role, the scheduler's role: the names and numbers the code uses.
	if role := oneBox(t, file, labels, "Runner role "+runnerRoleName(cfg)); role != "" && !namesWord(role, "instance profile "+runnerRoleName(cfg)) {
		t.Errorf("%s: %q; the instance profile is %s too", file, role, runnerRoleName(cfg))
	}
	if parameters := oneBox(t, file, labels, "SSM SecureString parameters"); parameters != "" && !strings.Contains(parameters, "under "+parameterPath(cfg)+":") {
		t.Errorf("%s: %q; the parameters live under %s", file, parameters, parameterPath(cfg))
	}
	retention := lookupKey(keySnapshotRetentionDays).def
	if policy := oneBox(t, file, labels, "Data Lifecycle Manager policy"); policy != "" {
		for _, want := range []string{"daily at " + snapshotTime + " UTC", fmt.Sprintf("n3x:%s (default %s)", keySnapshotRetentionDays, retention)} {
			if !strings.Contains(policy, want) {
				t.Errorf("%s: %q does not say %q", file, policy, want)
			}
		}
		if !namesWord(policy, "role "+snapshotRoleName(cfg)) {
			t.Errorf("%s: %q; the policy's role is %s", file, policy, snapshotRoleName(cfg))
		}
	}
	if scheduler := oneBox(t, file, labels, "EventBridge Scheduler"); scheduler != "" && !namesWord(scheduler, "role "+schedulerRoleName(cfg)) {
		t.Errorf("%s: %q; the scheduler's role is %s", file, scheduler, schedulerRoleName(cfg))
	}
	if wake := oneBox(t, file, labels, "Lambda "+wakeName(cfg)); wake != "" && (!namesWord(wake, wakeName(cfg)) || !strings.Contains(wake, "n3x:"+keyWakeOnJob)) {
		t.Errorf("%s: %q; the wake function is %s, made with n3x:%s", file, wake, wakeName(cfg), keyWakeOnJob)
	}

	// The costs shown: each runner and the fleet always on, and the fleet in working hours,
	// on demand and on Spot, as the program estimates them; then the most the snapshots of
	// the always-on fleet cost, kept as many days as the default says.
	var want []string
	costs := documentedCosts(t)
	for _, r := range costs[0].cost.runners {
		want = append(want, fmt.Sprintf("~$%.0f/mo", *r.total()))
	}
	for _, c := range costs {
		want = append(want, fmt.Sprintf("~$%.0f/mo", *c.cost.total()))
	}
	snapshots := fmt.Sprintf("~$%.0f/mo", *costs[0].cost.snapshots())
	want = append(want, snapshots)
	text := strings.Join(labels, "\n")
	if got := regexp.MustCompile(`~\$\d+/mo`).FindAllString(text, -1); !slices.Equal(got, want) {
		t.Errorf("%s shows costs %q; the program estimates %q", file, got, want)
	}
	bound := fmt.Sprintf("at most %s for snapshots (%d days kept", snapshots, costs[0].cost.retentionDays)
	if !strings.Contains(text, bound) || strconv.Itoa(costs[0].cost.retentionDays) != retention {
		t.Errorf("%s does not say %q, the program's bound on snapshots kept the default %s days", file, bound, retention)
	}
}

func TestRunnerServicesDiagramMatchesTheCode(t *testing.T) {
	const file = "runner-services.drawio.svg"
	cfg := defaultConfig(t)
	labels := diagramLabels(t, file)
	checkVolumes(t, file, labels, cfg, 1)
	checkNoStrayValues(t, file, labels, cfg)

	// The services behind the security group's ports listen on those ports.
	services := map[string]string{"https": "Caddy", "apt-cacher": "apt-cacher-ng"}
	for _, in := range inboundPorts {
		title, ok := services[in.name]
		if !ok {
			continue
		}
		if boxes := labelsStartingWith(labels, fmt.Sprintf("%s :%d", title, in.port)); len(boxes) != 1 {
			t.Errorf("%s: no %q box on port %d", file, title, in.port)
		}
	}
	for _, service := range []string{"GitLab Runner", "Podman", "Harmonia :5000", "systemd-networkd", "Runner secrets", "first-boot-format", "n3x-idle-stop (n3x:" + keyWakeOnJob + ")"} {
		if len(labelsStartingWith(labels, service)) != 1 {
			t.Errorf("%s: no %q box", file, service)
		}
	}
	// The runners read their secrets from SSM now; agenix is at most a note, never a service.
	if secrets := labelsStartingWith(labels, "Runner secrets"); len(secrets) == 1 && !strings.Contains(secrets[0], "SSM") {
		t.Errorf("%s: %q does not say the secrets come from SSM", file, secrets[0])
	}
	for _, label := range labels {
		if strings.HasPrefix(strings.ToLower(label), "agenix") {
			t.Errorf("%s: %q is a service box; the runner secrets come from SSM", file, label)
		}
	}
}
