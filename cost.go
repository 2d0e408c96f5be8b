package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// priceList holds list prices in USD, as the AWS Price List API (AmazonEC2, Linux, shared
// tenancy, no pre-installed software) and the EC2 and EBS pricing pages gave them for
// 2026-11. A table instead of pricing:GetProducts: no extra provider, round trips or IAM
// permission in every preview, and the README and diagram can quote the same numbers. Only
// what is listed is priced; anything else is reported as unknown, never guessed.
var priceList = map[string]regionPrices{
	"us-east-1": {
		onDemandHourly: map[string]float64{
			"c6i.xlarge": 0.17, "c6i.2xlarge": 0.34, "c6i.4xlarge": 0.68, "c6i.8xlarge": 1.36,
			"c7i.2xlarge": 0.357, "c7i.4xlarge": 0.714,
			"c7g.xlarge": 0.1445, "c7g.2xlarge": 0.289, "c7g.4xlarge": 0.578, "c7g.8xlarge": 1.156,
			"c6g.2xlarge": 0.272, "c6g.4xlarge": 0.544,
		},
		gp3GiBMonth: 0.08, gp3IopsMonth: 0.005, gp3MiBpsMonth: 0.04, publicIPv4Hourly: 0.005, snapshotGiBMonth: 0.05,
		lambdaPerMillionRequests: 0.20, lambdaArmGBSecond: 0.0000133334, logsIngestGB: 0.50,
	},
}

type regionPrices struct {
	onDemandHourly                           map[string]float64
	gp3GiBMonth, gp3IopsMonth, gp3MiBpsMonth float64 // beyond gp3's free 3000 IOPS and 125 MiB/s
	publicIPv4Hourly                         float64
	snapshotGiBMonth                         float64 // EBS snapshots, standard tier
	lambdaPerMillionRequests                 float64 // Lambda requests (function URL requests cost nothing more)
	lambdaArmGBSecond                        float64 // Lambda duration on arm64
	logsIngestGB                             float64 // CloudWatch Logs ingestion
}

// The wake-on-job estimate's stated assumptions: building hours a month (the fleet's
// instances run only while they build, plus an idle tail), one wake a day (each followed by
// n3x:idleMinutes of idle before the runner stops), and the function's load: four Job Hook
// events per job (created, pending, running, finished), half a second and one 200-byte log
// line each, at 128 MB.
const (
	wakeBuildHours       = 150.0
	wakesPerMonth        = 30.0
	wakeJobsPerMonth     = 10000.0
	wakeEventsPerJob     = 4.0
	wakeSecondsPerEvent  = 0.5
	wakeLogBytesPerEvent = 200.0
	wakeMemoryGB         = 0.125
)

// wakeCost is what wake on job changes in the estimate.
type wakeCost struct {
	buildHours, idleHours float64  // the assumed building hours and idle tails a month
	alwaysOn              *float64 // the same fleet always on, on demand, without snapshots
	function              *float64 // the wake function at wakeJobsPerMonth jobs
}

// snapshotDailyChange is the share of a data volume the estimate assumes changes in a day:
// a generous bound for build caches, which mostly grow and are collected now and then. The
// oldest snapshot holds at most the whole volume, each later one at most a day's change.
const snapshotDailyChange = 0.10

// hoursPerMonth is an average month: 8760 hours a year over 12.
const hoursPerMonth = 730.0

// runnerCost is one runner's monthly bill; nil amounts are unknown.
type runnerCost struct {
	name, instanceType string
	hourly             *float64 // on-demand list price, or the current Spot price
	instance           *float64
	volumes            *float64
	publicIPv4         *float64
	snapshots          *float64 // an upper bound, apart from total: it does not follow the hours
}

// fleetCost is what the configuration costs a month.
type fleetCost struct {
	capacity      string
	instanceHours float64 // per month, from n3x:workingHours
	retentionDays int     // n3x:snapshotRetentionDays
	runners       []runnerCost
	wake          *wakeCost // with n3x:wakeOnJob
}

// instanceHoursPerMonth is weekly running hours × 52 weeks / 12 months; always on, 730.
func instanceHoursPerMonth(hours workingHours) float64 {
	if hours.alwaysOn() {
		return hoursPerMonth
	}
	return hours.weeklyHours() * 52 / 12
}

// estimateCost prices the configuration. spotHourly holds the current Spot price per
// instance type (only with n3x:capacity spot; a missing one is unknown).
func estimateCost(cfg Config, spotHourly map[string]float64) fleetCost {
	prices, known := priceList[cfg.Region]
	cost := fleetCost{capacity: cfg.Capacity, instanceHours: instanceHoursPerMonth(cfg.WorkingHours), retentionDays: cfg.SnapshotRetention}
	if cfg.Wake.Enabled {
		alwaysOn := cfg
		alwaysOn.Wake, alwaysOn.WorkingHours, alwaysOn.Capacity = wakeConfig{}, workingHours{}, capacityOnDemand
		w := &wakeCost{buildHours: wakeBuildHours, idleHours: wakesPerMonth * float64(cfg.Wake.IdleMinutes) / 60,
			alwaysOn: estimateCost(alwaysOn, spotHourly).total()}
		if known {
			events := wakeJobsPerMonth * wakeEventsPerJob
			w.function = ptr(events/1e6*prices.lambdaPerMillionRequests + events*wakeSecondsPerEvent*wakeMemoryGB*prices.lambdaArmGBSecond +
				events*wakeLogBytesPerEvent/1e9*prices.logsIngestGB)
		}
		cost.wake, cost.instanceHours = w, min(cost.instanceHours, w.buildHours+w.idleHours)
	}
	// Every runner has the same volumes and one Elastic IP, which costs the same whether
	// its instance runs or not.
	volumes := float64(cfg.RootVolumeSize) * prices.gp3GiBMonth
	for _, vol := range dataVolumeSpecs(cfg) {
		volumes += float64(vol.SizeGiB)*prices.gp3GiBMonth +
			float64(vol.Iops-gp3BaselineIops)*prices.gp3IopsMonth +
			float64(vol.ThroughputMiBs-gp3BaselineThroughput)*prices.gp3MiBpsMonth
	}
	publicIPv4 := prices.publicIPv4Hourly * hoursPerMonth
	snapshots := 0.0
	if days := cfg.SnapshotRetention; days > 0 {
		for _, vol := range dataVolumeSpecs(cfg) {
			snapshots += float64(vol.SizeGiB) * (1 + snapshotDailyChange*float64(days-1)) * prices.snapshotGiBMonth
		}
	}
	for _, spec := range runnerSpecs(cfg) {
		r := runnerCost{name: spec.name, instanceType: spec.instanceType}
		hourly, ok := prices.onDemandHourly[spec.instanceType]
		if cfg.Capacity == capacitySpot {
			hourly, ok = spotHourly[spec.instanceType]
		}
		if ok {
			r.hourly, r.instance = &hourly, ptr(hourly*cost.instanceHours)
		}
		if known {
			r.volumes, r.publicIPv4, r.snapshots = ptr(volumes), ptr(publicIPv4), ptr(snapshots)
		}
		cost.runners = append(cost.runners, r)
	}
	return cost
}

// findSpotPrices asks EC2, with n3x:capacity spot, for the current Spot price of each
// instance type in the zone; a type EC2 reports none for is missing, which the estimate
// shows as unknown.
func findSpotPrices(ctx *pulumi.Context, l *lookups, cfg Config, p placement) map[string]float64 {
	prices := map[string]float64{}
	if cfg.Capacity != capacitySpot || p.Zone == "" {
		return prices
	}
	for _, instanceType := range instanceTypes(cfg) {
		l.start(func() {
			if price, ok := lookupSpotPrice(ctx, instanceType, p.Zone); ok {
				l.locked(func() { prices[instanceType] = price })
			}
		})
	}
	return prices
}

// lookupSpotPrice asks EC2 for the current Spot price of an instance type in the zone; not
// ok when EC2 reports none.
func lookupSpotPrice(ctx *pulumi.Context, instanceType, zone string) (float64, bool) {
	result, err := ec2.GetSpotPrice(ctx, &ec2.GetSpotPriceArgs{
		InstanceType:     pulumi.StringRef(instanceType),
		AvailabilityZone: pulumi.StringRef(zone),
		Filters:          []ec2.GetSpotPriceFilter{{Name: "product-description", Values: []string{"Linux/UNIX"}}},
	})
	if err != nil {
		return 0, false
	}
	price, err := strconv.ParseFloat(result.SpotPrice, 64)
	return price, err == nil
}

func (r runnerCost) total() *float64 { return sum(r.instance, r.volumes, r.publicIPv4) }

// total is the fleet's monthly bill without snapshots, nil when any part is unknown; with
// wake on job, its function's too.
func (c fleetCost) total() *float64 {
	if c.wake != nil {
		return sum(c.sumOf(runnerCost.total), c.wake.function)
	}
	return c.sumOf(runnerCost.total)
}

// share is the total as a part of the same fleet always on, in percent; nil when unknown.
func (w *wakeCost) share(total *float64) *float64 {
	if total == nil || w.alwaysOn == nil || *w.alwaysOn == 0 {
		return nil
	}
	return ptr(*total / *w.alwaysOn * 100)
}

// snapshots is the most the fleet's snapshots cost a month, nil when unknown.
func (c fleetCost) snapshots() *float64 {
	return c.sumOf(func(r runnerCost) *float64 { return r.snapshots })
}

// sumOf adds one part of every runner's cost, nil when any runner's is unknown.
func (c fleetCost) sumOf(part func(runnerCost) *float64) *float64 {
	var parts []*float64
	for _, r := range c.runners {
		parts = append(parts, part(r))
	}
	return sum(parts...)
}

// output is the monthlyCost stack output: USD per runner and in total, null where unknown.
func (c fleetCost) output() pulumi.Map {
	runners := pulumi.Map{}
	for _, r := range c.runners {
		runners[r.name] = pulumi.Map{
			"instanceType": pulumi.String(r.instanceType),
			"hourly":       price(r.hourly),
			"instance":     amount(r.instance),
			"volumes":      amount(r.volumes),
			"publicIpv4":   amount(r.publicIPv4),
			"snapshotsMax": amount(r.snapshots),
			"total":        amount(r.total()),
		}
	}
	out := pulumi.Map{
		"currency":      pulumi.String("USD"),
		"capacity":      pulumi.String(c.capacity),
		"instanceHours": pulumi.Float64(round(c.instanceHours)),
		"runners":       runners,
		"total":         amount(c.total()),
		"snapshotsMax":  amount(c.snapshots()),
	}
	if w := c.wake; w != nil {
		out["wakeOnJob"] = pulumi.Map{
			"buildHours":        pulumi.Float64(w.buildHours),
			"idleHours":         pulumi.Float64(round(w.idleHours)),
			"function":          amount(w.function),
			"alwaysOnTotal":     amount(w.alwaysOn),
			"percentOfAlwaysOn": amount(w.share(c.total())),
		}
	}
	return out
}

// String is the estimate as one line, for the preview.
func (c fleetCost) String() string {
	var parts []string
	for _, r := range c.runners {
		parts = append(parts, fmt.Sprintf("%s %s (%s %s, volumes %s, public IPv4 %s)",
			r.name, dollars(r.total()), r.instanceType, dollars(r.instance), dollars(r.volumes), dollars(r.publicIPv4)))
	}
	line := fmt.Sprintf("monthly cost estimate, %s, %s instance hours: %s = %s a month",
		c.capacity, strconv.FormatFloat(round(c.instanceHours), 'f', -1, 64), strings.Join(parts, " + "), dollars(c.total()))
	if w := c.wake; w != nil {
		share := "an unknown share"
		if p := w.share(c.total()); p != nil {
			share = fmt.Sprintf("%.0f %%", *p)
		}
		line += fmt.Sprintf(" with wake on job, assuming %.0f building hours and %.0f wakes a month, each followed by n3x:idleMinutes idle (%s h): "+
			"%s of always on, on demand (%s), the wake function %s of it at %.0f jobs a month",
			w.buildHours, wakesPerMonth, strconv.FormatFloat(round(w.idleHours), 'f', -1, 64), share, dollars(w.alwaysOn), dollars(w.function), wakeJobsPerMonth)
	}
	if c.retentionDays > 0 {
		line += fmt.Sprintf(", plus at most %s of snapshots (%d days kept, at most %.0f %% of each volume changing a day)",
			dollars(c.snapshots()), c.retentionDays, snapshotDailyChange*100)
	}
	return line
}

func ptr(v float64) *float64 { return &v }

// sum adds amounts; unknown if any is.
func sum(amounts ...*float64) *float64 {
	total := 0.0
	for _, a := range amounts {
		if a == nil {
			return nil
		}
		total += *a
	}
	return &total
}

// round is to the cent.
func round(v float64) float64 { return math.Round(v*100) / 100 }

func amount(v *float64) pulumi.Input {
	if v == nil {
		return nil
	}
	return pulumi.Float64(round(*v))
}

// price is an hourly price as AWS states it, not rounded to the cent.
func price(v *float64) pulumi.Input {
	if v == nil {
		return nil
	}
	return pulumi.Float64(*v)
}

func dollars(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("$%.2f", round(*v))
}
