// Command diagrams writes architecture.drawio.svg and runner-services.drawio.svg: each an
// SVG picture with its draw.io model embedded (the "editable SVG" format), both drawn
// from one list of shapes so the picture and the model cannot disagree.
//
//	go run ./tools/diagrams
//
// It refuses a picture whose labels overflow their boxes, whose boxes overlap without one
// holding the other, or whose arrows cross a box they do not start or end in.
// diagram_test.go at the repository root checks their numbers against the program.
package main

import (
	"encoding/xml"
	"fmt"
	"html"
	"log"
	"os"
	"strings"
)

// box is a labelled rectangle; the first line of its label is its title.
type box struct {
	id         string
	x, y, w, h float64
	lines      []string
	fill       string
	stroke     string
	dashed     bool
	titleTop   bool // title at the top (containers) rather than the label centred
}

// point is a position in the picture.
type point struct{ x, y float64 }

// arrow connects two boxes from (x1, y1) to (x2, y2), through the points in via, with an
// optional label.
type arrow struct {
	from, to       string
	x1, y1, x2, y2 float64
	via            []point
	label          string
	labelAt        *point // where the label starts; nil: beside the middle of the longest segment
	both           bool   // arrowheads at both ends
}

type diagram struct {
	file, name string
	width      float64
	height     float64
	boxes      []box
	arrows     []arrow
}

const (
	fontSize   = 12
	lineHeight = 15
	charWidth  = 0.58 * fontSize // Helvetica average, generous for digits and capitals
	font       = "Helvetica, Arial, sans-serif"
	labelSize  = 11
)

// Palette (draw.io defaults): AWS containers, compute, storage, network, people, services.
const (
	regionFill, regionStroke   = "#ffffff", "#232f3e"
	vpcFill, vpcStroke         = "#f5f9ff", "#6c8ebf"
	sgFill, sgStroke           = "#fff8f0", "#d79b00"
	computeFill, computeStroke = "#dae8fc", "#6c8ebf"
	storageFill, storageStroke = "#d5e8d4", "#82b366"
	netFill, netStroke         = "#ffe6cc", "#d79b00"
	actorFill, actorStroke     = "#f5f5f5", "#666666"
	serviceFill, serviceStroke = "#e1d5e7", "#9673a6"
	iamFill, iamStroke         = "#f8cecc", "#b85450"
	noteFill, noteStroke       = "#fff2cc", "#d6b656"
)

func main() {
	for _, d := range []diagram{architecture(), runnerServices()} {
		d.check()
		if err := os.WriteFile(d.file, []byte(d.svg()), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", d.file)
	}
}

// check refuses labels that would overflow their box or the picture, boxes that overlap
// without one holding the other, and arrows that cross a box other than their own ends and
// the containers around them.
func (d diagram) check() {
	byID := map[string]box{}
	for _, b := range d.boxes {
		if _, dup := byID[b.id]; dup {
			log.Fatalf("%s: two boxes are called %s", d.file, b.id)
		}
		byID[b.id] = b
		checkFits(d, b)
	}
	for i, a := range d.boxes {
		for _, b := range d.boxes[i+1:] {
			if overlaps(a, b) && !holds(a, b) && !holds(b, a) {
				log.Fatalf("%s: boxes %s and %s overlap", d.file, a.id, b.id)
			}
		}
	}
	for _, a := range d.arrows {
		from, ok1 := byID[a.from]
		to, ok2 := byID[a.to]
		if !ok1 || !ok2 {
			log.Fatalf("%s: arrow %s → %s names a box that does not exist", d.file, a.from, a.to)
		}
		points := a.points()
		for i := 1; i < len(points); i++ {
			for _, b := range d.boxes {
				if b.id == a.from || b.id == a.to || holds(b, from) || holds(b, to) {
					continue
				}
				if crosses(points[i-1], points[i], b) {
					log.Fatalf("%s: arrow %s → %s crosses box %s", d.file, a.from, a.to, b.id)
				}
			}
		}
	}
}

// checkFits refuses labels that would overflow their box or the picture.
func checkFits(d diagram, b box) {
	for _, line := range b.lines {
		if width := textWidth(line, fontSize); width > b.w-10 {
			log.Fatalf("%s: %q is about %.0fpx wide, box %s is %.0fpx", d.file, line, width, b.id, b.w)
		}
	}
	if need := float64(len(b.lines))*lineHeight + 10; need > b.h && !b.titleTop {
		log.Fatalf("%s: box %s needs %.0fpx of height, has %.0fpx", d.file, b.id, need, b.h)
	}
	if b.x < 0 || b.y < 0 || b.x+b.w > d.width || b.y+b.h > d.height {
		log.Fatalf("%s: box %s lies outside the %vx%v picture", d.file, b.id, d.width, d.height)
	}
}

func textWidth(s string, size float64) float64 { return float64(len([]rune(s))) * 0.58 * size }

func overlaps(a, b box) bool {
	return a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h
}

// holds says whether outer contains inner (a container and what is drawn in it).
func holds(outer, inner box) bool {
	return outer.id != inner.id && outer.x <= inner.x && outer.y <= inner.y &&
		inner.x+inner.w <= outer.x+outer.w && inner.y+inner.h <= outer.y+outer.h
}

// crosses says whether the segment from p to q passes through the inside of b (its
// border shrunk by a pixel, so an arrow may touch a neighbour's edge).
func crosses(p, q point, b box) bool {
	minX, minY, maxX, maxY := b.x+1, b.y+1, b.x+b.w-1, b.y+b.h-1
	// Liang–Barsky clipping of the segment to the rectangle.
	t0, t1 := 0.0, 1.0
	dx, dy := q.x-p.x, q.y-p.y
	for _, edge := range [][2]float64{{-dx, p.x - minX}, {dx, maxX - p.x}, {-dy, p.y - minY}, {dy, maxY - p.y}} {
		pe, qe := edge[0], edge[1]
		if pe == 0 {
			if qe < 0 {
				return false
			}
			continue
		}
		t := qe / pe
		if pe < 0 {
			t0 = max(t0, t)
		} else {
			t1 = min(t1, t)
		}
		if t0 > t1 {
			return false
		}
	}
	return true
}

func (a arrow) points() []point {
	return append(append([]point{{a.x1, a.y1}}, a.via...), point{a.x2, a.y2})
}

func architecture() diagram {
	d := diagram{file: "architecture.drawio.svg", name: "AWS infrastructure", width: 1060, height: 910}
	actor := func(id string, x, w float64, lines ...string) box {
		return box{id: id, x: x, y: 10, w: w, h: 58, lines: lines, fill: actorFill, stroke: actorStroke}
	}
	d.boxes = []box{
		actor("gitlab", 10, 180, "GitLab", "runners poll it for jobs"),
		actor("cacheClients", 200, 215, "Nix cache clients", "HTTPS :443 (Caddy → Harmonia)"),
		actor("aptClients", 425, 185, "apt clients (ISAR builds)", "apt-cacher-ng :3142"),
		actor("ci", 620, 215, "CI runner outside the fleet", "pulumi preview · pulumi up"),
		actor("operators", 845, 205, "Operators", "SSH :22 to the Elastic IPs,", "or aws ssm start-session"),
		{id: "region", x: 10, y: 105, w: 1040, h: 720, titleTop: true, fill: regionFill, stroke: regionStroke,
			lines: []string{"AWS region (aws:region, default us-east-1)"}},
		{id: "vpc", x: 25, y: 135, w: 960, h: 460, titleTop: true, fill: vpcFill, stroke: vpcStroke, dashed: true,
			lines: []string{"Default VPC, or the VPC of n3x:subnetId · one availability zone (n3x:availabilityZone)"}},
		{id: "sg", x: 40, y: 165, w: 930, h: 415, titleTop: true, fill: sgFill, stroke: sgStroke,
			lines: []string{
				"Security group n3x-runner-sg",
				"in: TCP 22, 443, 3142 from n3x:sshCidrBlocks (default 0.0.0.0/0, IPv4 + IPv6; none: nothing from outside)",
				"in: TCP 443, 3142 between runners, at private IPs (the group references itself) · out: all",
			}},
	}
	for i, r := range []struct{ id, title, instance, arch string }{
		{"x86", "x86_64 Runner × n3x:x86Count (default 1)", "c6i.2xlarge · 8 vCPU · 16 GiB", "x86_64"},
		{"graviton", "Graviton Runner × n3x:gravitonCount (if n3x:amiArm64)", "c7g.2xlarge · 8 vCPU · 16 GiB", "arm64"},
	} {
		x := 55 + float64(i)*470
		d.boxes = append(d.boxes,
			box{id: r.id + "Eip", x: x, y: 228, w: 430, h: 40, fill: netFill, stroke: netStroke,
				lines: []string{"Elastic IP per runner: stable public IPv4 and DNS", "moves to a new instance only after it holds the data volumes"}},
			box{id: r.id, x: x, y: 285, w: 430, h: 282, titleTop: true, fill: computeFill, stroke: computeStroke,
				lines: []string{r.title,
					"EC2 " + r.instance + " · NixOS AMI (" + r.arch + ")",
					"on demand, or with n3x:capacity spot a persistent Spot",
					"request (interruption: stop) launched into the zone's subnet",
					"IMDSv2 required · instance profile n3x-runner"}},
			box{id: r.id + "Root", x: x + 10, y: 375, w: 410, h: 55, fill: storageFill, stroke: storageStroke,
				lines: []string{"Root EBS 50 GB gp3, encrypted", "(root) · NixOS system, from the AMI", "replaced with the instance"}},
			box{id: r.id + "Cache", x: x + 10, y: 438, w: 410, h: 55, fill: storageFill, stroke: storageStroke,
				lines: []string{"Cache EBS 500 GB gp3, encrypted", "/dev/sdf, attached 1st · ZFS pool for /nix/store", "outlives instances · snapshotted daily"}},
			box{id: r.id + "Yocto", x: x + 10, y: 501, w: 410, h: 55, fill: storageFill, stroke: storageStroke,
				lines: []string{"Yocto EBS 100 GB gp3, encrypted", "/dev/sdg, attached 2nd · DL_DIR + SSTATE_DIR", "outlives instances · snapshotted daily"}},
		)
		d.arrows = append(d.arrows, arrow{from: r.id + "Eip", to: r.id, x1: x + 215, y1: 268, x2: x + 215, y2: 285})
	}
	// Regional services below the VPC: the upper row acts on the runners, the lower row on
	// the upper.
	const upper, lower = 640, 745
	d.boxes = append(d.boxes,
		box{id: "role", x: 25, y: upper, w: 250, h: 72, fill: iamFill, stroke: iamStroke,
			lines: []string{"Runner role n3x-runner", "and instance profile n3x-runner:", "Session Manager, and reading", "this stack's parameters only"}},
		box{id: "parameters", x: 25, y: lower, w: 250, h: 72, fill: iamFill, stroke: iamStroke,
			lines: []string{"SSM SecureString parameters", "under /n3x-runner/:", "gitlab-runner-token/<arch>", "cache-signing-key"}},
		box{id: "snapshots", x: 295, y: upper, w: 270, h: 72, fill: storageFill, stroke: storageStroke,
			lines: []string{"EBS snapshots of the data volumes", "a new volume starts from its runner's", "newest, else the newest of its kind;", "a volume that goes leaves a final one"}},
		box{id: "dlm", x: 295, y: lower, w: 270, h: 72, fill: storageFill, stroke: storageStroke,
			lines: []string{"Data Lifecycle Manager policy", "daily at 03:00 UTC, kept", "n3x:snapshotRetentionDays (default 7)", "(0: no policy) · role n3x-snapshots"}},
		box{id: "scheduler", x: 585, y: upper, w: 235, h: 72, fill: serviceFill, stroke: serviceStroke,
			lines: []string{"EventBridge Scheduler", "n3x:workingHours: a start and", "a stop schedule per runner", "role n3x-runner-scheduler"}},
		box{id: "keypair", x: 585, y: lower, w: 235, h: 72, fill: netFill, stroke: netStroke,
			lines: []string{"SSH key pair n3x-runner-key", "from n3x:sshPublicKey", "(ed25519 or RSA ≥ 2048)", "on every runner it launches"}},
		box{id: "sessionManager", x: 840, y: upper, w: 180, h: 72, fill: serviceFill, stroke: serviceStroke,
			lines: []string{"Session Manager", "aws ssm start-session", "the SSM agent dials out:", "no inbound port needed"}},
		box{id: "wake", x: 840, y: lower, w: 195, h: 72, fill: serviceFill, stroke: serviceStroke,
			lines: []string{"Lambda n3x-runner-wake", "n3x:wakeOnJob: its URL", "takes GitLab's Job events,", "starts a runner per job"}},
		box{id: "cost", x: 10, y: 840, w: 1040, h: 58, fill: actorFill, stroke: actorStroke,
			lines: []string{"us-east-1, always on demand: ~$304/mo x86_64 + ~$267/mo Graviton = ~$570/mo",
				"Mon-Fri 07:00-19:00 (n3x:workingHours): ~$275/mo; on Spot too: ~$176/mo · wake on job, 150 h of builds: ~$215/mo; on Spot: ~$153/mo",
				"plus at most ~$96/mo for snapshots (7 days kept, at most 10 % of each volume changing a day)"}},
	)
	const sgBottom, labelY = 580, 622
	d.arrows = append(d.arrows,
		arrow{from: "region", to: "gitlab", x1: 100, y1: 105, x2: 100, y2: 68, label: "runners poll (outbound)"},
		arrow{from: "cacheClients", to: "region", x1: 307, y1: 68, x2: 307, y2: 105},
		arrow{from: "aptClients", to: "region", x1: 517, y1: 68, x2: 517, y2: 105},
		arrow{from: "ci", to: "region", x1: 727, y1: 68, x2: 727, y2: 105, label: "AWS APIs"},
		arrow{from: "operators", to: "gravitonEip", x1: 880, y1: 68, x2: 880, y2: 228, label: "SSH :22"},
		arrow{from: "operators", to: "sessionManager", x1: 1035, y1: 68, via: []point{{1035, 676}}, x2: 1020, y2: 676},
		arrow{from: "x86", to: "graviton", x1: 485, y1: 320, x2: 525, y2: 320, both: true},
		arrow{from: "sg", to: "role", x1: 150, y1: sgBottom, x2: 150, y2: upper, label: "instance profile", labelAt: &point{155, labelY}},
		arrow{from: "role", to: "parameters", x1: 150, y1: upper + 72, x2: 150, y2: lower, label: "read at boot (IMDSv2)"},
		arrow{from: "snapshots", to: "sg", x1: 430, y1: upper, x2: 430, y2: sgBottom, both: true,
			label: "daily · new volumes", labelAt: &point{435, labelY}},
		arrow{from: "dlm", to: "snapshots", x1: 430, y1: lower, x2: 430, y2: upper + 72, label: "takes, deletes"},
		arrow{from: "scheduler", to: "sg", x1: 702, y1: upper, x2: 702, y2: sgBottom, label: "start / stop", labelAt: &point{707, labelY}},
		arrow{from: "sessionManager", to: "sg", x1: 930, y1: upper, x2: 930, y2: sgBottom, both: true, label: "sessions", labelAt: &point{935, labelY}},
	)
	return d
}

func runnerServices() diagram {
	d := diagram{file: "runner-services.drawio.svg", name: "Runner node services", width: 960, height: 620}
	const volumes = 520
	column := func(c int) float64 { return 30 + float64(c)*315 }
	row := func(r int) float64 { return 100 + float64(r)*105 }
	service := func(id string, c, r int, lines ...string) box {
		return box{id: id, x: column(c), y: row(r), w: 280, h: 70, lines: lines, fill: serviceFill, stroke: serviceStroke}
	}
	volume := func(id string, c int, lines ...string) box {
		return box{id: id, x: column(c), y: volumes, w: 280, h: 70, lines: lines, fill: storageFill, stroke: storageStroke}
	}
	d.boxes = []box{
		{id: "clients", x: 20, y: 10, w: 920, h: 40, fill: actorFill, stroke: actorStroke,
			lines: []string{"In through the security group: cache clients → :443 · apt clients → :3142 · SSH → :22",
				"Out: GitLab (the runner polls for jobs), SSM (secrets at boot, Session Manager), Nix substituters, Debian mirrors, sources"}},
		{id: "node", x: 10, y: 70, w: 940, h: 535, titleTop: true, fill: computeFill, stroke: computeStroke,
			lines: []string{"Runner node: the same NixOS configuration on x86_64 and Graviton"}},
		service("apt", 0, 0, "apt-cacher-ng :3142", "Debian package proxy", "uses Root: /var/cache/apt-cacher-ng"),
		service("networkd", 0, 1, "systemd-networkd", "network configuration", "no data volume"),
		{id: "agenixNote", x: column(0) + 20, y: row(2) + 5, w: 240, h: 55, dashed: true, fill: noteFill, stroke: noteStroke,
			lines: []string{"Other secrets: agenix, if any", "decrypted with the host key", "kept on the Cache pool (/persist)"}},
		service("caddy", 1, 0, "Caddy :443", "TLS reverse proxy for Harmonia", "no data volume"),
		service("harmonia", 1, 1, "Harmonia :5000 (localhost)", "Nix binary cache, signs its paths", "uses Cache: serves /nix/store"),
		service("secrets", 2, 0, "Runner secrets", "runner token, cache signing key", "read from SSM at boot with the", "instance role's IMDSv2 credentials"),
		service("gitlabRunner", 2, 1, "GitLab Runner", "shell executor for CI jobs", "uses Cache (Nix) and Yocto"),
		service("podman", 2, 2, "Podman", "OCI runtime (kas-container)", "uses Yocto: DL_DIR, SSTATE_DIR"),
		service("firstBoot", 2, 3, "first-boot-format", "one-time volume setup", "formats Cache (ZFS), Yocto (ext4)"),
		service("idleStop", 0, 3, "n3x-idle-stop (n3x:wakeOnJob)", "each minute: no job for idleMinutes?", "stops GitLab Runner, then the instance"),
		volume("root", 0, "Root EBS 50 GB gp3", "(root)", "NixOS system from the AMI"),
		volume("cache", 1, "Cache EBS 500 GB gp3 · ZFS pool", "/dev/sdf udev link, attached 1st", "/nix/store and /persist (host keys)"),
		volume("yocto", 2, "Yocto EBS 100 GB gp3 · ext4", "/dev/sdg udev link, attached 2nd", "DL_DIR + SSTATE_DIR"),
	}
	mid := func(c int) float64 { return column(c) + 140 }
	d.arrows = []arrow{
		{from: "secrets", to: "clients", x1: mid(2) - 80, y1: row(0), x2: mid(2) - 80, y2: 50, label: "SSM GetParameter", labelAt: &point{mid(2) - 71, 64}},
		{from: "secrets", to: "gitlabRunner", x1: mid(2), y1: row(0) + 70, x2: mid(2), y2: row(1), label: "runner token"},
		{from: "secrets", to: "harmonia", x1: column(2) + 40, y1: row(0) + 70, via: []point{{column(2) + 40, row(0) + 87}, {column(1) + 240, row(0) + 87}},
			x2: column(1) + 240, y2: row(1), label: "signing key", labelAt: &point{column(1) + 255, row(0) + 83}},
		{from: "caddy", to: "harmonia", x1: mid(1) - 40, y1: row(0) + 70, x2: mid(1) - 40, y2: row(1), label: "proxies to :5000"},
		{from: "harmonia", to: "cache", x1: mid(1), y1: row(1) + 70, x2: mid(1), y2: volumes, label: "reads /nix/store"},
		{from: "gitlabRunner", to: "podman", x1: mid(2), y1: row(1) + 70, x2: mid(2), y2: row(2), label: "runs kas-container"},
		{from: "firstBoot", to: "yocto", x1: mid(2), y1: row(3) + 70, x2: mid(2), y2: volumes, label: "formats once"},
		{from: "firstBoot", to: "cache", x1: column(2) + 20, y1: row(3) + 70, x2: column(1) + 240, y2: volumes},
	}
	return d
}

// svg renders the picture and embeds the draw.io model in the root's content attribute.
func (d diagram) svg() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%v" height="%v" viewBox="0 0 %v %v" content="%s">`+"\n",
		d.width, d.height, d.width, d.height, attr(d.model()))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">` +
		`<path d="M0,0 L10,5 L0,10 z" fill="#333333"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%v" height="%v" fill="#ffffff"/>`+"\n", d.width, d.height)
	for _, bx := range d.boxes {
		dash := ""
		if bx.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<rect x="%v" y="%v" width="%v" height="%v" rx="6" fill="%s" stroke="%s" stroke-width="1.5"%s/>`+"\n",
			bx.x, bx.y, bx.w, bx.h, bx.fill, bx.stroke, dash)
		top := bx.y + (bx.h-float64(len(bx.lines))*lineHeight)/2 + fontSize
		if bx.titleTop {
			top = bx.y + 6 + fontSize
		}
		for i, line := range bx.lines {
			weight := ""
			if i == 0 {
				weight = ` font-weight="bold"`
			}
			fmt.Fprintf(&b, `<text x="%v" y="%v" font-family="%s" font-size="%d" text-anchor="middle" fill="#1a1a1a"%s>%s</text>`+"\n",
				bx.x+bx.w/2, top+float64(i)*lineHeight, font, fontSize, weight, html.EscapeString(line))
		}
	}
	for _, a := range d.arrows {
		start := ""
		if a.both {
			start = ` marker-start="url(#arrow)"`
		}
		var path []string
		for _, p := range a.points() {
			path = append(path, fmt.Sprintf("%v,%v", p.x, p.y))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#333333" stroke-width="1.5" marker-end="url(#arrow)"%s/>`+"\n",
			strings.Join(path, " "), start)
	}
	// Labels last, so no arrow or box is drawn over one.
	for _, a := range d.arrows {
		if a.label == "" {
			continue
		}
		at := a.labelPosition()
		fmt.Fprintf(&b, `<text x="%v" y="%v" font-family="%s" font-size="%d" fill="#333333" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
			at.x, at.y, font, labelSize, html.EscapeString(a.label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// labelPosition is where an arrow's label starts: as given, or beside the middle of its
// longest segment (right of a vertical one, above a horizontal one).
func (a arrow) labelPosition() point {
	if a.labelAt != nil {
		return *a.labelAt
	}
	points := a.points()
	var p, q point
	longest := -1.0
	for i := 1; i < len(points); i++ {
		if l := abs(points[i].x-points[i-1].x) + abs(points[i].y-points[i-1].y); l > longest {
			longest, p, q = l, points[i-1], points[i]
		}
	}
	if abs(q.x-p.x) > abs(q.y-p.y) {
		return point{(p.x+q.x)/2 - textWidth(a.label, labelSize)/2, (p.y+q.y)/2 - 5}
	}
	return point{(p.x+q.x)/2 + 5, (p.y+q.y)/2 + 4}
}

func abs(v float64) float64 { return max(v, -v) }

// model is the uncompressed draw.io file: one page whose cells mirror the boxes and arrows.
func (d diagram) model() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<mxfile host="n3x tools/diagrams"><diagram id="%s" name="%s"><mxGraphModel dx="%v" dy="%v" grid="1" gridSize="10" page="1" pageWidth="%v" pageHeight="%v"><root>`,
		strings.ReplaceAll(d.file, ".", "-"), d.name, d.width, d.height, d.width, d.height)
	b.WriteString(`<mxCell id="0"/><mxCell id="1" parent="0"/>`)
	for _, bx := range d.boxes {
		label := make([]string, len(bx.lines))
		for i, line := range bx.lines {
			label[i] = html.EscapeString(line)
			if i == 0 {
				label[i] = "<b>" + label[i] + "</b>"
			}
		}
		style := fmt.Sprintf("rounded=1;arcSize=4;whiteSpace=wrap;html=1;fontSize=%d;fontFamily=Helvetica;fillColor=%s;strokeColor=%s;", fontSize, bx.fill, bx.stroke)
		if bx.titleTop {
			style += "verticalAlign=top;"
		}
		if bx.dashed {
			style += "dashed=1;"
		}
		fmt.Fprintf(&b, `<mxCell id="%s" value="%s" style="%s" vertex="1" parent="1"><mxGeometry x="%v" y="%v" width="%v" height="%v" as="geometry"/></mxCell>`,
			bx.id, attr(strings.Join(label, "<br>")), style, bx.x, bx.y, bx.w, bx.h)
	}
	for i, a := range d.arrows {
		style := fmt.Sprintf("endArrow=classic;html=1;fontSize=%d;", labelSize)
		if a.both {
			style += "startArrow=classic;"
		}
		points := ""
		if len(a.via) > 0 {
			points = `<Array as="points">`
			for _, p := range a.via {
				points += fmt.Sprintf(`<mxPoint x="%v" y="%v"/>`, p.x, p.y)
			}
			points += `</Array>`
		}
		fmt.Fprintf(&b, `<mxCell id="edge%d" value="%s" style="%s" edge="1" parent="1" source="%s" target="%s"><mxGeometry relative="1" as="geometry">`+
			`<mxPoint x="%v" y="%v" as="sourcePoint"/><mxPoint x="%v" y="%v" as="targetPoint"/>%s</mxGeometry></mxCell>`,
			i, attr(a.label), style, a.from, a.to, a.x1, a.y1, a.x2, a.y2, points)
	}
	b.WriteString(`</root></mxGraphModel></diagram></mxfile>`)
	return b.String()
}

// attr escapes text for an XML attribute.
func attr(s string) string {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		log.Fatal(err)
	}
	return strings.ReplaceAll(b.String(), `"`, "&quot;")
}
