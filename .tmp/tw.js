const N=6000, R=2000;
const name=Buffer.from('conntrack_open_connections');
const labels=[];for(let i=0;i<N;i++) labels.push(Buffer.from(`{host="198.18.${i>>8}.${i&255}",port="443",direction="inbound"}`));
const prefixes=labels.map(l=>Buffer.concat([Buffer.from('\n'),name,l,Buffer.from(' ')]));
const out=Buffer.allocUnsafe(1<<20);
function digits(buf,len,value){let d=1;for(let r=value;r>=10;r=Math.floor(r/10))d++;let at=len+d;let r=value;do{buf[--at]=48+(r%10);r=Math.floor(r/10);}while(r>0);return len+d;}
function two(){let len=0;for(let i=0;i<N;i++){out[len++]=10;out.set(name,len);len+=name.length;const l=labels[i];out.set(l,len);len+=l.length;out[len++]=32;len=digits(out,len,i%100);}return len;}
function one(){let len=0;for(let i=0;i<N;i++){const p=prefixes[i];out.set(p,len);len+=p.length;len=digits(out,len,i%100);}return len;}
function loop(){let len=0;for(let i=0;i<N;i++){const p=prefixes[i];for(let j=0;j<p.length;j++)out[len+j]=p[j];len+=p.length;len=digits(out,len,i%100);}return len;}
function copyM(){let len=0;for(let i=0;i<N;i++){const p=prefixes[i];len+=p.copy(out,len);len=digits(out,len,i%100);}return len;}
for(const f of [two,one,loop,copyM,two,one,loop]){f();const t=process.cpuUsage();for(let r=0;r<R;r++)f();const c=process.cpuUsage(t);console.log(f.name,((c.user+c.system)/R).toFixed(0),'us per 6000');}
