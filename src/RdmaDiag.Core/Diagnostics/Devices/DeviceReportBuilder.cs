using System.Globalization;
using RdmaDiag.Native;

namespace RdmaDiag.Diagnostics.Devices;

/// <summary>Assembles the `rdmadiag devices` report from the host's files, tools and rdma-core.</summary>
public static class DeviceReportBuilder
{
    public static DevicesReport Build(IHostSource host, IRdmaUserspace userspace)
    {
        var context = HostContextDetector.Detect(host);
        var kernel = KernelProbe.Probe(host);
        var classDirExists = host.DirectoryExists(SysfsDeviceScanner.ClassDir);

        var links = SysfsDeviceScanner.ParseRdmaLink(classDirExists ? host.RunTool("rdma", "link", "show") : null);
        var devices = SysfsDeviceScanner.Scan(host, links);

        var (verbs, listError, _) = userspace.Query();
        devices = devices.Select(d => Merge(d, verbs.GetValueOrDefault(d.Name))).ToList();

        var libraries = new LibrariesReport(
            Library(userspace.Verbs),
            Library(userspace.RdmaCm),
            host.List("/etc/libibverbs.d").Where(n => n.EndsWith(".driver", StringComparison.Ordinal))
                .Select(n => n[..^".driver".Length]).ToList(),
            listError);

        var iwpmd = Iwpmd(host, devices);
        var problems = DeviceDiagnosis.Diagnose(context, kernel, libraries, devices, iwpmd,
            classDirExists,
            host.DirectoryExists("/sys/class/infiniband_verbs"),
            host.FileExists("/dev/infiniband/rdma_cm"));
        return new DevicesReport(context, kernel, libraries, devices, iwpmd, problems);
    }

    private static LibraryReport Library(NativeLibraryStatus s) => new(s.SoName, s.DebianPackage, s.IsAvailable, s.UnavailableReason);

    private static RdmaDeviceReport Merge(RdmaDeviceReport device, VerbsDetails? verbs)
    {
        if (verbs is null)
        {
            return device;
        }
        var ports = device.Ports.Select(p =>
        {
            var v = verbs.Ports.FirstOrDefault(vp => vp.Port == p.Port);
            return v is null ? p : p with { ActiveMtu = v.ActiveMtu, MaxMtu = v.MaxMtu };
        }).ToList();
        return device with { Ports = ports, Verbs = verbs, Firmware = device.Firmware ?? verbs.Firmware };
    }

    private static IwpmdReport Iwpmd(IHostSource host, IReadOnlyList<RdmaDeviceReport> devices)
    {
        int? pid = null;
        foreach (var entry in host.List("/proc"))
        {
            if (int.TryParse(entry, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && host.ReadText($"/proc/{entry}/comm") == "iwpmd")
            {
                pid = p;
                break;
            }
        }
        var hardware = devices.Where(SysfsDeviceScanner.IsIwarpHardware).Select(d => d.Name).ToList();
        var needed = hardware.Count > 0;
        var note = (needed, pid) switch
        {
            (true, null) => $"iwpmd is not running; hardware iWARP ({string.Join(", ", hardware)}) needs it to map rdma_cm ports",
            (true, _) => $"iwpmd is running (pid {pid}) for hardware iWARP ({string.Join(", ", hardware)})",
            (false, null) => "iwpmd is not running; only hardware iWARP RNICs need it (siw uses the kernel TCP stack)",
            (false, _) => $"iwpmd is running (pid {pid}); no hardware iWARP device needs it here",
        };
        return new IwpmdReport(pid is not null, pid, needed, note);
    }
}
