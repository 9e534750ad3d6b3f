typedef int stub_demo_graph;
