#include <volk.c>
