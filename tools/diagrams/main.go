// Command diagrams writes architecture.drawio.svg and runner-services.drawio.svg: each an
// SVG picture with its draw.io model embedded (the "editable SVG" format), both drawn
// from one list of shapes so the picture and the model cannot disagree.
//
//	go run ./tools/diagrams
//
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

// arrow connects two boxes between explicit points, with an optional label.
type arrow struct {
	from, to       string
	x1, y1, x2, y2 float64
	label          string
	both           bool // arrowheads at both ends
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
)

// Palette (draw.io defaults): AWS containers, compute, storage, network, people.
const (
	regionFill, regionStroke   = "#ffffff", "#232f3e"
	vpcFill, vpcStroke         = "#f5f9ff", "#6c8ebf"
	sgFill, sgStroke           = "#fff8f0", "#d79b00"
	computeFill, computeStroke = "#dae8fc", "#6c8ebf"
	storageFill, storageStroke = "#d5e8d4", "#82b366"
	netFill, netStroke         = "#ffe6cc", "#d79b00"
	actorFill, actorStroke     = "#f5f5f5", "#666666"
	serviceFill, serviceStroke = "#e1d5e7", "#9673a6"
)

func main() {
	for _, d := range []diagram{architecture(), runnerServices()} {
		for _, b := range d.boxes {
			checkFits(d, b)
		}
		if err := os.WriteFile(d.file, []byte(d.svg()), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", d.file)
	}
}

// checkFits refuses labels that would overflow their box or the picture.
func checkFits(d diagram, b box) {
	for _, line := range b.lines {
		if width := float64(len([]rune(line))) * charWidth; width > b.w-10 {
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

func architecture() diagram {
	d := diagram{file: "architecture.drawio.svg", name: "AWS infrastructure", width: 960, height: 660}
	actor := func(id string, x float64, lines ...string) box {
		return box{id: id, x: x, y: 10, w: 226, h: 56, lines: lines, fill: actorFill, stroke: actorStroke}
	}
	d.boxes = []box{
		actor("gitlab", 10, "GitLab", "runners poll it for CI jobs"),
		actor("operators", 251, "Operators", "SSH :22 from n3x:sshCidrBlocks"),
		actor("cacheClients", 492, "Nix cache clients", "HTTPS :443 (Caddy → Harmonia)"),
		actor("aptClients", 724, "apt clients (ISAR builds)", "apt-cacher-ng :3142"),
		{id: "region", x: 10, y: 100, w: 940, h: 520, titleTop: true, fill: regionFill, stroke: regionStroke,
			lines: []string{"AWS region (aws:region, default us-east-1)"}},
		{id: "vpc", x: 25, y: 130, w: 910, h: 420, titleTop: true, fill: vpcFill, stroke: vpcStroke, dashed: true,
			lines: []string{"Default VPC, or the VPC of n3x:subnetId · one availability zone (n3x:availabilityZone)"}},
		{id: "sg", x: 40, y: 160, w: 880, h: 375, titleTop: true, fill: sgFill, stroke: sgStroke,
			lines: []string{
				"Security group n3x-runner-sg",
				"in: TCP 22, 443, 3142 from n3x:sshCidrBlocks (default 0.0.0.0/0, IPv4 + IPv6)",
				"in: TCP 443, 3142 between runners, at private IPs (group references itself) · out: all",
			}},
		{id: "keypair", x: 25, y: 565, w: 330, h: 40, fill: netFill, stroke: netStroke,
			lines: []string{"SSH key pair n3x-runner-key", "from n3x:sshPublicKey (ed25519 or RSA ≥ 2048)"}},
		{id: "cost", x: 365, y: 565, w: 570, h: 40, fill: actorFill, stroke: actorStroke,
			lines: []string{"us-east-1, always on demand: ~$304/mo x86_64 + ~$267/mo Graviton = ~$570/mo",
				"Mon-Fri 07:00-19:00 (n3x:workingHours): ~$275/mo; on Spot too: ~$176/mo"}},
	}
	for i, r := range []struct{ id, title, instance, arch string }{
		{"x86", "x86_64 Runner × n3x:x86Count (default 1)", "c6i.2xlarge · 8 vCPU · 16 GiB", "x86_64"},
		{"graviton", "Graviton Runner × n3x:gravitonCount (if n3x:amiArm64)", "c7g.2xlarge · 8 vCPU · 16 GiB", "arm64"},
	} {
		x := 55 + float64(i)*435
		d.boxes = append(d.boxes,
			box{id: r.id + "Eip", x: x, y: 225, w: 415, h: 40, fill: netFill, stroke: netStroke,
				lines: []string{"Elastic IP per runner: stable public IPv4 and DNS", "follows the instance across AMI upgrades"}},
			box{id: r.id, x: x, y: 280, w: 415, h: 240, titleTop: true, fill: computeFill, stroke: computeStroke,
				lines: []string{r.title, "EC2 " + r.instance, "NixOS AMI (" + r.arch + ") · IMDSv2 required"}},
			box{id: r.id + "Root", x: x + 10, y: 340, w: 395, h: 50, fill: storageFill, stroke: storageStroke,
				lines: []string{"Root EBS 50 GB gp3, encrypted", "(root) · NixOS system, from the AMI"}},
			box{id: r.id + "Cache", x: x + 10, y: 398, w: 395, h: 50, fill: storageFill, stroke: storageStroke,
				lines: []string{"Cache EBS 500 GB gp3, encrypted", "/dev/sdf, attached 1st · ZFS pool for /nix/store"}},
			box{id: r.id + "Yocto", x: x + 10, y: 456, w: 395, h: 50, fill: storageFill, stroke: storageStroke,
				lines: []string{"Yocto EBS 100 GB gp3, encrypted", "/dev/sdg, attached 2nd · DL_DIR + SSTATE_DIR"}},
		)
		d.arrows = append(d.arrows, arrow{from: r.id + "Eip", to: r.id, x1: x + 207, y1: 265, x2: x + 207, y2: 280})
	}
	d.arrows = append(d.arrows,
		arrow{from: "region", to: "gitlab", x1: 123, y1: 100, x2: 123, y2: 66, label: "runners poll (egress)"},
		arrow{from: "operators", to: "region", x1: 364, y1: 66, x2: 364, y2: 100},
		arrow{from: "cacheClients", to: "region", x1: 605, y1: 66, x2: 605, y2: 100},
		arrow{from: "aptClients", to: "region", x1: 837, y1: 66, x2: 837, y2: 100},
		arrow{from: "x86", to: "graviton", x1: 470, y1: 310, x2: 490, y2: 310, both: true},
	)
	return d
}

func runnerServices() diagram {
	d := diagram{file: "runner-services.drawio.svg", name: "Runner node services", width: 960, height: 560}
	column := func(c int) float64 { return 30 + float64(c)*305 }
	service := func(id string, c int, y float64, lines ...string) box {
		return box{id: id, x: column(c), y: y, w: 290, h: 58, lines: lines, fill: serviceFill, stroke: serviceStroke}
	}
	volume := func(id string, c int, lines ...string) box {
		return box{id: id, x: column(c), y: 450, w: 290, h: 70, lines: lines, fill: storageFill, stroke: storageStroke}
	}
	d.boxes = []box{
		{id: "clients", x: 20, y: 10, w: 920, h: 40, fill: actorFill, stroke: actorStroke,
			lines: []string{"In through the security group: cache clients → :443 · apt clients → :3142 · SSH → :22",
				"Out: GitLab (the runner polls for jobs), Nix substituters, Debian mirrors, sources"}},
		{id: "node", x: 10, y: 70, w: 940, h: 470, titleTop: true, fill: computeFill, stroke: computeStroke,
			lines: []string{"Runner node: the same NixOS configuration on x86_64 and Graviton"}},
		service("apt", 0, 100, "apt-cacher-ng :3142", "Debian package proxy", "uses Root: /var/cache/apt-cacher-ng"),
		service("agenix", 0, 200, "agenix", "secrets: runner token, cache-signing key", "host key on the Cache pool → /run/agenix"),
		service("networkd", 0, 300, "systemd-networkd", "network configuration", "no data volume"),
		service("caddy", 1, 100, "Caddy :443", "TLS reverse proxy for Harmonia", "no data volume"),
		service("harmonia", 1, 200, "Harmonia :5000 (localhost)", "Nix binary cache server", "uses Cache: serves /nix/store"),
		service("gitlabRunner", 2, 100, "GitLab Runner", "shell executor for CI jobs", "uses Cache (Nix) and Yocto"),
		service("podman", 2, 200, "Podman", "OCI runtime (kas-container)", "uses Yocto: DL_DIR, SSTATE_DIR"),
		service("firstBoot", 2, 300, "first-boot-format", "one-time volume setup", "formats Cache (ZFS), Yocto (ext4)"),
		volume("root", 0, "Root EBS 50 GB gp3", "(root)", "NixOS system from the AMI"),
		volume("cache", 1, "Cache EBS 500 GB gp3 · ZFS pool", "/dev/sdf udev link, attached 1st", "/nix/store and /persist (host keys)"),
		volume("yocto", 2, "Yocto EBS 100 GB gp3 · ext4", "/dev/sdg udev link, attached 2nd", "DL_DIR + SSTATE_DIR"),
	}
	d.arrows = []arrow{
		{from: "caddy", to: "harmonia", x1: 480, y1: 158, x2: 480, y2: 200, label: "proxies to :5000"},
		{from: "harmonia", to: "cache", x1: 480, y1: 258, x2: 480, y2: 450, label: "reads /nix/store"},
		{from: "gitlabRunner", to: "podman", x1: 785, y1: 158, x2: 785, y2: 200, label: "runs kas-container"},
		{from: "firstBoot", to: "yocto", x1: 785, y1: 358, x2: 785, y2: 450, label: "formats once"},
		{from: "firstBoot", to: "cache", x1: 640, y1: 358, x2: 560, y2: 450},
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
		fmt.Fprintf(&b, `<line x1="%v" y1="%v" x2="%v" y2="%v" stroke="#333333" stroke-width="1.5" marker-end="url(#arrow)"%s/>`+"\n",
			a.x1, a.y1, a.x2, a.y2, start)
		if a.label != "" {
			x, y := (a.x1+a.x2)/2+5, (a.y1+a.y2)/2+4
			fmt.Fprintf(&b, `<text x="%v" y="%v" font-family="%s" font-size="11" fill="#333333" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
				x, y, font, html.EscapeString(a.label))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

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
		style := "endArrow=classic;html=1;fontSize=11;"
		if a.both {
			style += "startArrow=classic;"
		}
		fmt.Fprintf(&b, `<mxCell id="edge%d" value="%s" style="%s" edge="1" parent="1" source="%s" target="%s"><mxGeometry relative="1" as="geometry">`+
			`<mxPoint x="%v" y="%v" as="sourcePoint"/><mxPoint x="%v" y="%v" as="targetPoint"/></mxGeometry></mxCell>`,
			i, attr(a.label), style, a.from, a.to, a.x1, a.y1, a.x2, a.y2)
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
