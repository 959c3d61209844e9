package postgres

// What the tests of package postgres_test see of the task query's insides.
var (
	TaskSQL         = taskSQL
	TaskPlanSetting = taskPlanSetting
)
