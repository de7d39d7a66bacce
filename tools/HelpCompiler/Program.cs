using System;
using System.IO;
using System.Linq;

namespace ImdsTroubleshoot.HelpCompiler;

/// <summary>
/// Usage: HelpCompiler DOCS_DIR OUT_DIR ASSEMBLY_FILE_NAME
/// Reads every cmdlet markdown file (platyPS schema 2.0.0) and about_*.md in DOCS_DIR,
/// writes OUT_DIR/ASSEMBLY_FILE_NAME-Help.xml and OUT_DIR/about_*.help.txt.
/// Exits 1 with a message per problem when a help file is incomplete.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: HelpCompiler DOCS_DIR OUT_DIR ASSEMBLY_FILE_NAME");
            return 2;
        }

        string docs = args[0];
        string outDir = args[1];
        string assembly = args[2];
        if (!Directory.Exists(docs))
        {
            Console.Error.WriteLine($"HelpCompiler: error: no docs folder '{docs}'.");
            return 2;
        }

        var commands = Directory.GetFiles(docs, "*.md")
            .Where(f => !Path.GetFileName(f).StartsWith("about_", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => (File: f, Help: CommandHelp.Parse(File.ReadAllText(f), Path.GetFileName(f))))
            .ToList();

        var problems = commands.SelectMany(c => c.Help.Validate().Select(p => $"{c.File}: {p}")).ToList();
        foreach (string p in problems)
        {
            Console.Error.WriteLine("HelpCompiler: error: " + p);
        }

        if (problems.Count > 0)
        {
            return 1;
        }

        Directory.CreateDirectory(outDir);
        string mamlPath = Path.Combine(outDir, assembly + "-Help.xml");
        File.WriteAllText(mamlPath, MamlWriter.Write(commands.Select(c => c.Help)));
        foreach (string about in Directory.GetFiles(docs, "about_*.md"))
        {
            string name = Path.GetFileNameWithoutExtension(about);
            File.WriteAllText(Path.Combine(outDir, name + ".help.txt"), AboutWriter.Write(File.ReadAllText(about)));
        }

        Console.WriteLine($"HelpCompiler: {commands.Count} cmdlet help topics -> {mamlPath}");
        return 0;
    }
}
