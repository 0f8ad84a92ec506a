using System.Diagnostics;
using System.Xml;

namespace RdmaDiag.Tests.Decode;

/// <summary>One PDU Wireshark's iwarp_mpa dissector showed: an FPDU (with its DDP/RDMAP fields) or a start frame.</summary>
internal sealed record TsharkPdu(long Frame, int Stream, int SourcePort, IReadOnlyDictionary<string, string> Show, IReadOnlyDictionary<string, string> Value)
{
    public bool IsStartFrame => Show.ContainsKey("iwarp_mpa.rev");

    public bool IsFpdu => Show.ContainsKey("iwarp_mpa.ulpdulength");

    /// <summary>A numeric field: "0x..." hex or decimal, as PDML shows it.</summary>
    public ulong Number(string field)
    {
        var s = Show[field];
        return s.StartsWith("0x", StringComparison.Ordinal) ? Convert.ToUInt64(s[2..], 16) : ulong.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The raw octets of a field as lower-case hex.</summary>
    public string Hex(string field) => Value[field].ToLowerInvariant();
}

/// <summary>Runs tshark as the decoding oracle and reads its PDML output (tests using it are [ToolFact("tshark")]).</summary>
internal static class Tshark
{
    /// <summary>
    /// The iwarp_mpa PDUs of a capture, in order. tshark 4.0 needs <c>tcp.try_heuristic_first</c> to try its MPA
    /// heuristic on ports other dissectors own (5445 artemis, 4420 nvme-tcp); rpcordma is disabled so it does not
    /// claim Send payloads.
    /// </summary>
    public static List<TsharkPdu> Pdus(string capture)
    {
        var psi = new ProcessStartInfo("tshark")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in (string[])["-r", capture, "-n", "-T", "pdml", "-o", "tcp.try_heuristic_first:TRUE", "--disable-protocol", "rpcordma",
                     "-J", "tcp iwarp_mpa iwarp_ddp_rdmap"])
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var pdus = Parse(p.StandardOutput);
        p.WaitForExit();
        // Exit 2 with "cut short" is tshark reading a truncated file to its end, which is what the sample is about.
        if (p.ExitCode != 0 && !stderr.Result.Contains("cut short", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"tshark exited {p.ExitCode}: {stderr.Result}");
        }
        return pdus;
    }

    private static List<TsharkPdu> Parse(TextReader pdml)
    {
        var result = new List<TsharkPdu>();
        using var xml = XmlReader.Create(pdml, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        long frame = 0;
        int stream = -1, port = 0;
        Dictionary<string, string>? show = null, value = null;
        string proto = "";
        void Flush()
        {
            if (show is not null && (show.ContainsKey("iwarp_mpa.ulpdulength") || show.ContainsKey("iwarp_mpa.rev")))
            {
                result.Add(new TsharkPdu(frame, stream, port, show, value!));
            }
            show = value = null;
        }
        while (xml.Read())
        {
            if (xml.NodeType == XmlNodeType.EndElement && xml.Name == "packet")
            {
                Flush();
                continue;
            }
            if (xml.NodeType != XmlNodeType.Element)
            {
                continue;
            }
            switch (xml.Name)
            {
                case "packet":
                    frame = 0;
                    stream = -1;
                    break;
                case "proto":
                    proto = xml.GetAttribute("name") ?? "";
                    if (proto == "iwarp_mpa")
                    {
                        // Each MPA PDU starts a new record; its DDP/RDMAP proto follows and adds to it.
                        Flush();
                        show = [];
                        value = [];
                    }
                    break;
                case "field":
                    var name = xml.GetAttribute("name") ?? "";
                    var s = xml.GetAttribute("show") ?? "";
                    if (name == "num" && frame == 0)
                    {
                        frame = long.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
                    }
                    else if (name == "tcp.stream")
                    {
                        stream = int.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
                    }
                    else if (name == "tcp.srcport")
                    {
                        port = int.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
                    }
                    else if (show is not null && (proto is "iwarp_mpa" or "iwarp_ddp_rdmap") && !show.ContainsKey(name))
                    {
                        show[name] = s;
                        value![name] = xml.GetAttribute("value") ?? "";
                    }
                    break;
            }
        }
        Flush();
        return result;
    }
}
