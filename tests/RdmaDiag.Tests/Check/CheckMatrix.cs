using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Tests.Netns;
using RdmaDiag.Wire.Mpa;
using Xunit.Abstractions;

namespace RdmaDiag.Tests.CheckVerb;

/// <summary>Runs checks from a lab's client namespace and records each case's cause and time to verdict.</summary>
internal static class CheckMatrix
{
    /// <summary>Set RDMADIAG_CHECK_MATRIX=FILE to collect "case cause exit seconds" lines from every run.</summary>
    private static readonly string? LogFile = Environment.GetEnvironmentVariable("RDMADIAG_CHECK_MATRIX");
    private static readonly object LogLock = new();

    public static CheckReport Run(NetLab lab, ITestOutputHelper output, string name, Func<CheckOptions, CheckOptions>? configure = null)
    {
        var options = new CheckOptions { Host = lab.Server.Address.ToString() };
        options = configure?.Invoke(options) ?? options;
        CheckReport report = lab.Client.Run(() => CheckRunner.Run(options));
        Record(output, name, report);
        return report;
    }

    public static void Record(ITestOutputHelper output, string name, CheckReport report)
    {
        string line = string.Create(CultureInfo.InvariantCulture, $"{name,-34} {report.Cause.Id,-18} exit {report.ExitCode,2}  {report.Elapsed.TotalSeconds,6:0.000} s");
        output.WriteLine(line);
        var text = new StringWriter();
        CheckOutput.WriteText(text, report);
        output.WriteLine(text.ToString());
        if (LogFile is not null)
        {
            lock (LogLock)
            {
                File.AppendAllText(LogFile, line + Environment.NewLine);
            }
        }
    }

    /// <summary>All the evidence of a report in one string, for Assert.Contains.</summary>
    public static string Evidence(CheckReport report) =>
        string.Join('\n', report.Stages.SelectMany(s => s.Evidence)) + '\n' + report.Verdict.Sentence + '\n' + string.Join('\n', report.Findings.Select(f => f.ToString()));

    /// <summary>An MPA Reply answering <paramref name="request"/>: R as given, C as asked, the RFC 6581 block echoed at Rev 2.</summary>
    public static byte[] Reply(MpaStartFrame request, bool rejected = false, bool crc = false, byte[]? privateData = null)
    {
        MpaV2Block? block = request.V2Block is { } b ? new MpaV2Block(b.Ord, b.Ird) : null;
        return ScriptedPeer.Encode(MpaStartFrame.Reply(crc || request.CrcPreferred, block, privateData ?? [], rejected) with { Rev = request.Rev });
    }

    /// <summary>
    /// One untagged Send FPDU (QN 0, MSN 1, MO 0, L=1) carrying <paramref name="payload"/>; the CRC is valid
    /// unless <paramref name="corruptCrc"/>.
    /// </summary>
    public static byte[] SendFpdu(ReadOnlySpan<byte> payload, bool corruptCrc = false)
    {
        byte[] ulpdu = new byte[18 + payload.Length];
        ulpdu[0] = 0x41; // T=0, L=1, DV=1
        ulpdu[1] = 0x43; // RV=1, opcode 3 (Send)
        BinaryPrimitives.WriteUInt32BigEndian(ulpdu.AsSpan(10), 1); // MSN 1; QN and MO stay 0
        payload.CopyTo(ulpdu.AsSpan(18));
        byte[] fpdu = new byte[Fpdu.TotalLength(ulpdu.Length)];
        Fpdu.Write(fpdu, ulpdu, crcEnabled: true);
        if (corruptCrc)
        {
            fpdu[^1] ^= 0xFF;
        }
        return fpdu;
    }

    /// <summary>Reads until at least <paramref name="count"/> octets arrived (or the peer closed).</summary>
    public static void ReadAtLeast(Socket socket, int count)
    {
        byte[] buffer = new byte[4096];
        int have = 0;
        while (have < count)
        {
            int n = socket.Receive(buffer);
            if (n == 0)
            {
                return;
            }
            have += n;
        }
    }
}
