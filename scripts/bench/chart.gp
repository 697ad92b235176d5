# scripts/bench/chart.gp - docs/benchmarks.png from build/bench/chart.dat
# and build/bench/chart.range (scripts/bench/report.lua): per workload, how
# many times better oclua does than the official TypeScript SDK on Node
# (column 3) and the official Python SDK (column 4, "?" when it was not
# run), same server, same run.
set terminal pngcairo size 1000,520 font "sans,11"
set output "docs/benchmarks.png"
set title "oclua vs the official TypeScript and Python SDKs (same oclua serve, same run)"
set ylabel "times better than the peer (log scale)"
set datafile missing "?"
set logscale y 2
load "build/bench/chart.range"	# report.lua: the bars' range
set xrange [-0.6:*]
set offsets 0, 0.6, 0, 0
set style fill solid 0.85 border -1
set boxwidth 0.36
set grid ytics
set xtics rotate by -20 nomirror
set key top left opaque box
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "#444444"
set label "tie" at graph 0.99, first 1.1 right tc rgb "#444444"
# two bars per workload; below the dashed line the peer does better
plot "build/bench/chart.dat" \
       using ($1 - 0.19):3:xtic(2) with boxes lc rgb "#2f6db5" \
       title "vs TypeScript SDK (Node)", \
     "" using ($1 + 0.19):4 with boxes lc rgb "#e08a1e" \
       title "vs Python SDK", \
     "" using ($1 - 0.19):3:(sprintf("%.1fx", $3)) with labels offset 0,0.7 \
       font "sans,9" notitle, \
     "" using ($1 + 0.19):4:(sprintf("%.1fx", $4)) with labels offset 0,0.7 \
       font "sans,9" notitle
