package clocksync

import "time"

// Leap seconds are taken as chrony takes them: only at the end of June or
// December (the months IERS uses first; leap seconds elsewhere have never
// been scheduled), and, with several servers, only when a majority of the
// usable ones announce the same leap. One server's leap indicator is not
// enough: it is logged by the daemon and ignored.

// leapMonthEnd returns the UTC label (UNIX seconds) of the midnight that
// ends the month of utc, if that month may end with a leap second (June or
// December).
func leapMonthEnd(utc int64) (int64, bool) {
	u := time.Unix(utc, 0).UTC()
	if u.Month() != time.June && u.Month() != time.December {
		return 0, false
	}
	return time.Date(u.Year(), u.Month()+1, 1, 0, 0, 0, 0, time.UTC).Unix(), true
}

// LeapVote is the outcome of VoteLeap.
type LeapVote struct {
	Next       int8  // +1 insert, −1 delete, 0 none
	At         int64 // UTC label (UNIX s) of the midnight the leap precedes; 0 if Next is 0
	Inserting  int   // usable servers announcing an insertion (LI 1)
	Deleting   int   // usable servers announcing a deletion (LI 2)
	Usable     int   // usable servers counted
	WrongMonth bool  // announcements seen outside June and December: ignored
}

// VoteLeap decides whether a leap second is pending, from the leap
// indicators of the usable servers (one per server, their latest accepted
// stamp's; servers that are unsynchronised, unusable or falsetickers are
// left out by the caller) at UTC time nowUTC (UNIX s). A leap is pending
// only in June or December and only when more than half of the usable
// servers announce the same one: 3 of 4, 2 of 3, 1 of 1, but not 2 of 4.
// It is pure: same inputs, same vote.
func VoteLeap(indicators []uint8, nowUTC int64) LeapVote {
	v := LeapVote{Usable: len(indicators)}
	for _, li := range indicators {
		switch li {
		case 1:
			v.Inserting++
		case 2:
			v.Deleting++
		}
	}
	next := int8(0)
	switch {
	case 2*v.Inserting > v.Usable:
		next = 1
	case 2*v.Deleting > v.Usable:
		next = -1
	}
	if next == 0 {
		return v
	}
	at, ok := leapMonthEnd(nowUTC)
	if !ok {
		v.WrongMonth = true
		return v
	}
	v.Next, v.At = next, at
	return v
}
