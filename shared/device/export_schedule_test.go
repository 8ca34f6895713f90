package device

// ScheduleMatches exposes scheduleMatches to the external tests.
var ScheduleMatches = scheduleMatches
