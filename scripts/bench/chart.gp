# scripts/bench/chart.gp - docs/benchmarks.png from build/bench/chart.dat
# (scripts/bench/report.lua): per workload, how many times better oclua
# does than the official TypeScript SDK on Node, same server, same run.
set terminal pngcairo size 900,480 font "sans,11"
set output "docs/benchmarks.png"
set title "oclua vs the official TypeScript SDK on Node (same oclua serve, same run)"
set ylabel "times better than the TS SDK (log scale)"
set logscale y 2
set yrange [0.25:*]
set style fill solid 0.85 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -20 nomirror
set key off
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "#444444"
set label "tie" at graph 0.01, first 1.08 tc rgb "#444444"
# blue where oclua does better, red where it does worse
plot "build/bench/chart.dat" \
       using 1:3:($3 >= 1 ? 0x2f6db5 : 0xc0392b):xtic(2) with boxes \
       lc rgb variable, \
     "" using 1:3:(sprintf("%.2fx", $3)) with labels offset 0,0.8
