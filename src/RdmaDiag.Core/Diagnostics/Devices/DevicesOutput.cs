using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RdmaDiag.Diagnostics.Devices;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(DevicesReport))]
internal sealed partial class DevicesJsonContext : JsonSerializerContext;

/// <summary>Renders the devices report as stable snake_case JSON or as text for a terminal.</summary>
public static class DevicesOutput
{
    public static string ToJson(DevicesReport report) => JsonSerializer.Serialize(report, DevicesJsonContext.Default.DevicesReport);

    public static string ToText(DevicesReport report)
    {
        var s = new StringBuilder();
        s.AppendLine($"host: {report.Host.Summary}");
        s.AppendLine($"kernel: {report.Kernel.Release ?? "unknown"}" +
                     (report.Kernel.Config.TryGetValue("CONFIG_INFINIBAND", out var ib) ? $" (CONFIG_INFINIBAND {ib}, from {report.Kernel.ConfigSource})" : ""));
        s.AppendLine($"rdma-core: {Lib(report.Libraries.Libibverbs)}, {Lib(report.Libraries.Librdmacm)}");
        if (report.Devices.Count == 0)
        {
            s.AppendLine("devices: none");
        }
        foreach (var d in report.Devices)
        {
            s.AppendLine();
            s.AppendLine($"{d.Name}: {d.Driver}, {d.Transport} ({d.NodeType})");
            Line(s, "node guid", d.NodeGuid);
            Line(s, "firmware", d.Firmware);
            Line(s, "board", d.BoardId);
            Line(s, "pci", d.PciAddress);
            if (d.Sriov is { } sr)
            {
                s.AppendLine(sr.Role == "pf"
                    ? $"  sr-iov: PF with {sr.NumVfs?.ToString() ?? "?"} of {sr.TotalVfs} VFs enabled"
                    : $"  sr-iov: VF of PF {sr.Pf}");
            }
            foreach (var p in d.Ports)
            {
                var mtu = p.ActiveMtu is { } m ? $", mtu {m}" + (p.MaxMtu is { } mx ? $" (max {mx})" : "") : "";
                s.AppendLine($"  port {p.Port}: {p.State ?? "?"} ({p.PhysState ?? "?"}), {p.LinkLayer ?? "?"}{mtu}{(p.Rate is null ? "" : $", {p.Rate}")}");
                foreach (var g in p.Gids)
                {
                    s.AppendLine($"    gid {g.Index}: {g.Gid}{(g.Type is null ? "" : $" {g.Type}")}{(g.Netdev is null ? "" : $" on {g.Netdev}")}");
                }
            }
            foreach (var n in d.Netdevs)
            {
                var addrs = n.Addresses.Count == 0 ? "no addresses" : string.Join(" ", n.Addresses);
                s.AppendLine($"  netdev {n.Name}: {n.OperState ?? "?"}, mtu {n.Mtu?.ToString() ?? "?"}, mac {n.Mac ?? "?"}, {addrs}");
            }
            if (d.DriverSettings is { } ds)
            {
                s.AppendLine($"  driver settings ({ds.Source}):{(ds.Values.Count == 0 ? " none" : "")}");
                foreach (var (k, v) in ds.Values)
                {
                    s.AppendLine($"    {k} = {v}");
                }
                foreach (var note in ds.Notes)
                {
                    s.AppendLine($"    note: {note}");
                }
            }
            if (d.Verbs is { Error: { } verr })
            {
                s.AppendLine($"  verbs: {verr}");
            }
            else if (d.Verbs is { } v)
            {
                s.AppendLine($"  verbs: vendor {v.VendorId} part {v.VendorPartId}, max_qp {v.MaxQp}, max_qp_wr {v.MaxQpWr}, max_cqe {v.MaxCqe}, ird {v.MaxQpRdAtom}, ord {v.MaxQpInitRdAtom}");
            }
        }
        s.AppendLine();
        s.AppendLine($"iwpmd: {report.Iwpmd.Note}");
        foreach (var p in report.Problems)
        {
            s.AppendLine();
            s.AppendLine($"problem [{p.Code}]: {p.Message}");
            foreach (var e in p.Evidence)
            {
                s.AppendLine($"  seen: {e}");
            }
            foreach (var f in p.Fixes)
            {
                s.AppendLine($"  fix:  {f}");
            }
        }
        return s.ToString();
    }

    private static string Lib(LibraryReport l) => l.Available ? $"{l.Soname} ok" : $"{l.Soname} MISSING";

    private static void Line(StringBuilder s, string label, string? value)
    {
        if (value is not null)
        {
            s.AppendLine($"  {label}: {value}");
        }
    }
}
