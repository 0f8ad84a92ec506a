using System.CommandLine;
using RdmaDiag.Diagnostics.Check;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Cli.Commands;

/// <summary>
/// `rdmadiag check HOST`: the staged probe ladder (resolve, route, TCP, MPA, RDMA operations, large messages,
/// teardown) against `rdmadiag serve --soft` or any iWARP responder, ending in one verdict whose cause id is
/// also the exit code (docs/causes.md).
/// </summary>
public sealed class CheckCommand : Command
{
    private readonly Argument<string> _host = new("host") { Description = "The server: a host name or an IP address" };
    private readonly Option<int> _port = new("--port") { Description = "TCP port of the iWARP listener", DefaultValueFactory = _ => IwarpSetupOptions.DefaultPort };
    private readonly Option<bool> _soft = new("--soft") { Description = "Probe with RdmaDiag's userspace iWARP endpoint (MPA/DDP/RDMAP over the host's TCP, like siw); the default" };
    private readonly Option<bool> _verbs = new("--verbs") { Description = "Probe through rdma_cm on this host's RDMA device (kernel siw, an RNIC); needs --rping" };
    private readonly Option<bool> _rping = new("--rping") { Description = "Speak rping's protocol (against `rping -s` or `serve --rping`): Read and Write back --count pings, verified" };
    private readonly Option<int> _count = new("--count") { Description = "rping pings to run (rping -C)", DefaultValueFactory = _ => 1 };
    private readonly Option<int> _rpingSize = new("--rping-size") { Description = "rping ping size in octets (rping -S)", DefaultValueFactory = _ => RdmaDiag.Rping.RpingProtocol.DefaultSize };
    private readonly Option<bool> _json = new("--json") { Description = "Print one JSON document: verdict, cause, sentence, fix, mpa, stages, operations, capture, findings" };
    private readonly Option<double?> _timeoutScale = new("--timeout-scale") { Description = "Multiply every stage timeout and the 30 s budget by this factor" };
    private readonly Option<double?> _connectTimeout = new("--connect-timeout") { Description = "Seconds to wait for the TCP handshake (default 5)" };
    private readonly Option<double?> _mpaTimeout = new("--mpa-timeout") { Description = "Seconds to wait for the MPA Reply (default 5)" };
    private readonly Option<double?> _opTimeout = new("--op-timeout") { Description = "Seconds one Send, Write or Read may take (default 4)" };
    private readonly Option<int?> _mpaRev = new("--mpa-rev") { Description = "MPA revision to request: 1 (RFC 5044) or 2 (RFC 6581, default)" };
    private readonly Option<string> _crc = new("--crc") { Description = "CRC policy: off (CRCs only if the server asks, default), preferred, required, forbidden", HelpName = "required|preferred|off|forbidden" };
    private readonly Option<bool> _markers = new("--markers") { Description = "Ask the server to insert MPA markers (M=1)" };
    private readonly Option<string> _p2p = new("--p2p") { Description = "Peer-to-peer mode with these RTR types (needs --mpa-rev 2); none for client/server", HelpName = "none|send|write|read|all" };
    private readonly Option<int?> _ird = new("--ird") { Description = "Inbound RDMA Reads this side holds at once (default 16)" };
    private readonly Option<int?> _ord = new("--ord") { Description = "Outbound RDMA Reads this side issues at once (default 16)" };
    private readonly Option<string> _privateData = new("--private-data") { Description = "ULP private data for the MPA Request, in hex (at most 252 octets at MPA rev 2)", HelpName = "HEX" };
    private readonly Option<string> _sizes = new("--sizes") { Description = "Message sizes for Send, Write and Read (default 64,4k,64k,1m; up to 256 B run in rdma-ops, larger in large-messages)", HelpName = "LIST" };
    private readonly Option<bool> _noCapture = new("--no-capture") { Description = "Do not capture the check's own traffic (otherwise captured when libpcap and privileges allow)" };

    public CheckCommand() : base("check", "Say why an iWARP connection to HOST fails, stage by stage, with one verdict (its cause id is the exit code).")
    {
        Arguments.Add(_host);
        foreach (Option option in (Option[])[_port, _soft, _verbs, _rping, _count, _rpingSize, _json, _timeoutScale, _connectTimeout, _mpaTimeout, _opTimeout, _mpaRev, _crc, _markers,
                     _p2p, _ird, _ord, _privateData, _sizes, _noCapture])
        {
            Options.Add(option);
        }
        SetAction(Run);
    }

    private int Run(ParseResult parse)
    {
        TextWriter output = parse.InvocationConfiguration.Output;
        string? p2p = parse.GetValue(_p2p);
        // rping's IRD and ORD (1) unless given: what a stock rping initiator puts in its MPA Request.
        bool rping = parse.GetValue(_rping);
        int? rpingOrd = rping ? RdmaDiag.Rping.RpingProtocol.ReadDepth : null;
        int? rpingIrd = rpingOrd;
        IwarpSetupOptions setup = IwarpSetupOptions.FromCommandLine(
            mpaRevision: parse.GetValue(_mpaRev),
            crc: parse.GetValue(_crc),
            markers: parse.GetValue(_markers),
            p2p: p2p is null || p2p.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : p2p,
            ird: parse.GetValue(_ird) ?? rpingIrd,
            ord: parse.GetValue(_ord) ?? rpingOrd);
        bool verbs = parse.GetValue(_verbs);
        if (verbs && parse.GetValue(_soft))
        {
            throw new UserInputException("--soft and --verbs both given; choose one engine");
        }
        var options = new CheckOptions
        {
            Verbs = verbs,
            Rping = rping ? new RpingCheck(parse.GetValue(_count), parse.GetValue(_rpingSize)) : null,
            Host = parse.GetValue(_host)!,
            Port = IwarpSetupOptions.CheckPort(parse.GetValue(_port)),
            Setup = setup,
            PrivateData = parse.GetValue(_privateData) is { } hex ? CheckOptions.ParseHex(hex) : default(ReadOnlyMemory<byte>),
            Sizes = parse.GetValue(_sizes) is { } sizes ? CheckOptions.ParseSizes(sizes) : CheckOptions.DefaultSizes,
            Timeouts = CheckTimeouts.FromCommandLine(parse.GetValue(_timeoutScale), parse.GetValue(_connectTimeout), parse.GetValue(_mpaTimeout), parse.GetValue(_opTimeout)),
            Capture = !parse.GetValue(_noCapture),
        };
        options.Validate();
        bool json = parse.GetValue(_json);
        if (!json)
        {
            output.WriteLine(CheckOutput.Banner(options));
            output.Flush();
        }
        CheckReport report = CheckRunner.Run(options);
        if (json)
        {
            CheckOutput.WriteJson(output, report);
        }
        else
        {
            CheckOutput.WriteText(output, report);
        }
        return report.ExitCode;
    }
}
