package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones for n3x:workingHours, whatever the machine running preview has
)

// workingHours is when the runners run: the same start and stop time on each of its
// days, in one time zone. The zero value means always on.
type workingHours struct {
	Days        []time.Weekday // sorted, Monday first as people write them
	Start, Stop clock
	Zone        *time.Location
}

// clock is a time of day.
type clock struct{ Hour, Minute int }

func (c clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

func (c clock) minutes() int { return c.Hour*60 + c.Minute }

var weekdayNames = map[string]time.Weekday{
	"Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday, "Thu": time.Thursday,
	"Fri": time.Friday, "Sat": time.Saturday, "Sun": time.Sunday,
}

// weekOrder numbers days Monday first, so "Mon-Fri" and "Sat-Sun" are ranges.
func weekOrder(d time.Weekday) int { return (int(d) + 6) % 7 }

// parseWorkingHours reads "Mon-Fri 07:00-19:00 Europe/Berlin": days (names, ranges,
// comma-separated), a start and a later stop time on the 24-hour clock, an IANA time zone.
func parseWorkingHours(raw string) (workingHours, error) {
	fields := strings.Fields(raw)
	if len(fields) != 3 {
		return workingHours{}, fmt.Errorf("must be days, hours and a time zone, such as \"Mon-Fri 07:00-19:00 Europe/Berlin\", got %q", raw)
	}
	days, err := parseDays(fields[0])
	if err != nil {
		return workingHours{}, err
	}
	from, to, found := strings.Cut(fields[1], "-")
	if !found {
		return workingHours{}, fmt.Errorf("hours %q must be start-stop, such as 07:00-19:00", fields[1])
	}
	start, err := parseClock(from)
	if err != nil {
		return workingHours{}, err
	}
	stop, err := parseClock(to)
	if err != nil {
		return workingHours{}, err
	}
	if stop.minutes() <= start.minutes() {
		return workingHours{}, fmt.Errorf("stops at %s, which is not after its start %s; working hours end on the day they begin", stop, start)
	}
	zone, err := time.LoadLocation(fields[2])
	if err != nil || fields[2] == "Local" || fields[2] == "" {
		return workingHours{}, fmt.Errorf("time zone %q is not an IANA time zone such as Europe/Berlin or UTC", fields[2])
	}
	return workingHours{Days: days, Start: start, Stop: stop, Zone: zone}, nil
}

func parseDays(raw string) ([]time.Weekday, error) {
	var days []time.Weekday
	for _, part := range strings.Split(raw, ",") {
		first, last, isRange := strings.Cut(part, "-")
		if !isRange {
			last = first
		}
		from, ok1 := weekdayNames[first]
		to, ok2 := weekdayNames[last]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("day %q is not one of Mon, Tue, Wed, Thu, Fri, Sat, Sun or a range such as Mon-Fri", part)
		}
		if weekOrder(to) < weekOrder(from) {
			return nil, fmt.Errorf("day range %q runs backwards; write it Monday first, such as Mon-Fri", part)
		}
		for d := weekOrder(from); d <= weekOrder(to); d++ {
			day := time.Weekday((d + 1) % 7)
			if slices.Contains(days, day) {
				return nil, fmt.Errorf("names %s twice", day.String()[:3])
			}
			days = append(days, day)
		}
	}
	slices.SortFunc(days, func(a, b time.Weekday) int { return weekOrder(a) - weekOrder(b) })
	return days, nil
}

func parseClock(raw string) (clock, error) {
	t, err := time.Parse("15:04", raw)
	if err != nil || len(raw) != 5 {
		return clock{}, fmt.Errorf("time %q must be HH:MM on the 24-hour clock, such as 07:00", raw)
	}
	return clock{t.Hour(), t.Minute()}, nil
}

// alwaysOn says whether no working hours are set.
func (w workingHours) alwaysOn() bool { return w.Zone == nil }

// weeklyHours is how long the runners run in a week.
func (w workingHours) weeklyHours() float64 {
	if w.alwaysOn() {
		return 7 * 24
	}
	return float64(len(w.Days)*(w.Stop.minutes()-w.Start.minutes())) / 60
}

// cronDays is the days as EventBridge Scheduler's cron day-of-week field: MON-FRI.
func (w workingHours) cronDays() string {
	names := make([]string, len(w.Days))
	for i, d := range w.Days {
		names[i] = strings.ToUpper(d.String()[:3])
	}
	return strings.Join(names, ",")
}

// cron is the Scheduler expression that fires at the time on the working days.
func (w workingHours) cron(at clock) string {
	return fmt.Sprintf("cron(%d %d ? * %s *)", at.Minute, at.Hour, w.cronDays())
}

// gaps lists the start and stop times that fall into a daylight-saving gap of the zone on
// one of the working days within a year from now: on such a day the clock skips them.
func (w workingHours) gaps(now time.Time) []string {
	if w.alwaysOn() {
		return nil
	}
	var found []string
	for _, at := range []clock{w.Start, w.Stop} {
		for day := now.In(w.Zone); day.Before(now.AddDate(1, 0, 0)); day = day.AddDate(0, 0, 1) {
			if !slices.Contains(w.Days, day.Weekday()) {
				continue
			}
			t := time.Date(day.Year(), day.Month(), day.Day(), at.Hour, at.Minute, 0, 0, w.Zone)
			if t.Hour() != at.Hour || t.Minute() != at.Minute {
				found = append(found, fmt.Sprintf("%s on %s", at, day.Format("Mon 2 Jan 2006")))
				break
			}
		}
	}
	return found
}
