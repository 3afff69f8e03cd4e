package main

import "context"

const serveCmd = "serve"

func serveChild([]string) error                                          { return nil }
func liveScenarios(context.Context, options, *report, string) error     { return nil }
func idleScenario(context.Context, options, *report, string) error      { return nil }
func overheadScenario(context.Context, options, *report, string) error  { return nil }
