// Attach handlers libbpf does not have (ebpf_exporter's custom SEC names),
// iterator reads, test runs and the post-attach mark. See README.md.
//
// Sections handled here instead of by bpf_program__attach:
//   perf_event/type=N,config=N,frequency=N|period=N  one perf event per online CPU
//   xdp/<ifname>                                      the interface in this netns
//   uprobe//proc/self/exe:post_attach_mark            this .node file's post_attach_mark
//   syscall                                           no attach point: run with testRun
#pragma once

#include <string>

extern "C" void post_attach_mark(void);

namespace ebpf {

// Registers the "perf_event/" and "xdp/" SEC prefixes with libbpf (program
// types PERF_EVENT and XDP), process-wide; before any object is opened.
void RegisterSectionHandlers();

// Whether attach() of a program in this section goes through AttachCustom.
bool IsCustomSection(const std::string& section);

// The real path of this addon's .node file ("" when unknown).
std::string AddonPath();

}  // namespace ebpf
