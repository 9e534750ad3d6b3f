typedef int stub_cli_plan;
