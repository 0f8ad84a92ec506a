using System.CommandLine;
using System.Globalization;
using RdmaDiag.Capture.Iwarp;

namespace RdmaDiag.Cli.Commands;

/// <summary>`rdmadiag bench decode [--fpdus N] [--no-tshark]`: decode speed and memory next to tshark on the same capture.</summary>
public sealed class BenchDecodeCommand : Command
{
    private const long MinFpdus = 1_000;
    private const long MaxFpdus = 100_000_000;

    private readonly Option<string?> _fpdus = new("--fpdus")
    {
        Description = "FPDUs in the generated capture (default 1048576).",
    };

    private readonly Option<bool> _noTshark = new("--no-tshark")
    {
        Description = "Do not time tshark.",
    };

    public BenchDecodeCommand() : base("decode", "Decode speed (packets/s, FPDUs/s, MB/s) and peak RSS on a generated capture, next to tshark on the same file.")
    {
        Options.Add(_fpdus);
        Options.Add(_noTshark);
        SetAction(parse =>
        {
            var text = parse.GetValue(_fpdus);
            long fpdus = 1 << 20;
            if (text is not null && (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out fpdus) || fpdus < MinFpdus || fpdus > MaxFpdus))
            {
                throw new UserInputException($"--fpdus '{text}': expected a whole number from {MinFpdus} to {MaxFpdus}");
            }
            var output = parse.InvocationConfiguration.Output;
            var result = DecodeBenchmark.Run(fpdus, !parse.GetValue(_noTshark), output);
            DecodeBenchmark.Print(output, result);
            return ExitCodes.Ok;
        });
    }
}
