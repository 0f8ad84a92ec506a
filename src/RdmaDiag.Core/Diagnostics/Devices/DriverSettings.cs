namespace RdmaDiag.Diagnostics.Devices;

/// <summary>
/// The driver settings that decide whether two iWARP ends agree on MPA: iw_cxgb4's module parameters,
/// irdma's configfs directory and module parameters, siw's (compile-time) policy.
/// </summary>
public static class DriverSettings
{
    public static DriverSettingsReport? Read(IHostSource host, string driver, string deviceName) => driver switch
    {
        "cxgb4" => Cxgb4(host),
        "irdma" => Irdma(host, deviceName),
        "siw" => Siw(host),
        _ => null,
    };

    private static DriverSettingsReport Cxgb4(IHostSource host)
    {
        const string Dir = "/sys/module/iw_cxgb4/parameters";
        var values = ReadAll(host, Dir);
        var notes = new List<string>();
        if (values.Count == 0)
        {
            notes.Add("iw_cxgb4 is not loaded (no /sys/module/iw_cxgb4/parameters): modprobe iw_cxgb4");
            return new DriverSettingsReport(Dir, values, notes);
        }
        switch (values.GetValueOrDefault("mpa_rev"))
        {
            case "1":
                notes.Add("mpa_rev=1: MPA v1 only; no IRD/ORD negotiation and no RTR, peers that insist on MPA v2 (enhanced) fail the handshake");
                break;
            case "2":
                notes.Add("mpa_rev=2: MPA v2 (RFC 6581) with IRD/ORD and RTR, falling back to v1 when the peer answers v1");
                break;
            case { } rev:
                notes.Add($"mpa_rev={rev}: MPA revision sent in the Request");
                break;
        }
        if (values.GetValueOrDefault("markers_enabled") == "1")
        {
            notes.Add("markers_enabled=1: MPA markers requested (M=1); Linux siw refuses markers and answers with R=1");
        }
        if (values.GetValueOrDefault("crc_enabled") == "0")
        {
            notes.Add("crc_enabled=0: MPA CRC not requested; a peer that requires CRC (C=1) still forces it on");
        }
        if (values.GetValueOrDefault("peer2peer") == "1")
        {
            var rtr = values.GetValueOrDefault("p2p_type") switch
            {
                "0" => "a zero-length RDMA Write",
                "1" => "a zero-length RDMA Read",
                _ => "an RDMA operation",
            };
            notes.Add($"peer2peer=1: the initiator sends a ready-to-receive ({rtr}) before the first ULP message (p2p_type={values.GetValueOrDefault("p2p_type") ?? "?"})");
        }
        return new DriverSettingsReport(Dir, values, notes);
    }

    private static DriverSettingsReport Irdma(IHostSource host, string deviceName)
    {
        var configfs = $"/sys/kernel/config/irdma/{deviceName}";
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in ReadAll(host, configfs))
        {
            values[key] = value;
        }
        foreach (var (key, value) in ReadAll(host, "/sys/module/irdma/parameters"))
        {
            values[$"module.{key}"] = value;
        }
        var notes = new List<string>();
        if (!host.DirectoryExists(configfs))
        {
            notes.Add(host.DirectoryExists("/sys/kernel/config/irdma")
                ? $"irdma configfs entry not created: mkdir {configfs} to read and set the per-device knobs"
                : "irdma configfs not present (configfs not mounted, or this irdma has none): mount -t configfs none /sys/kernel/config");
        }
        if (values.GetValueOrDefault("roce_enable") == "1")
        {
            notes.Add("roce_enable=1: this function runs RoCEv2, not iWARP");
        }
        return new DriverSettingsReport(host.DirectoryExists(configfs) ? configfs : "/sys/module/irdma/parameters", values, notes);
    }

    private static DriverSettingsReport Siw(IHostSource host)
    {
        const string Dir = "/sys/module/siw/parameters";
        var values = ReadAll(host, Dir);
        IReadOnlyList<string> notes =
        [
            "siw: MPA v2 with IRD/ORD, no markers (answers M=1 with R=1), CRC off unless built with mpa_crc_required, peer_to_peer off",
            "siw uses the kernel TCP stack: no iwpmd port mapping",
        ];
        return new DriverSettingsReport(Dir, values, notes);
    }

    private static SortedDictionary<string, string> ReadAll(IHostSource host, string dir)
    {
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in host.List(dir))
        {
            if (host.ReadText($"{dir}/{name}") is { } value)
            {
                values[name] = value;
            }
        }
        return values;
    }
}
